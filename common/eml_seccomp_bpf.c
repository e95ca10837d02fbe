#include "eml_seccomp_bpf.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>

bool
eml_seccomp_bpf_supported(void)
{
#ifdef EML_BPF_USABLE
	return true;
#else
	return false;
#endif
}

eml_err
eml_seccomp_bpf_install(const struct sock_filter *filter, size_t len)
{
#ifdef EML_BPF_USABLE
	struct sock_fprog prog = {
		.len = (unsigned short)len,
		.filter = (struct sock_filter *)(uintptr_t)filter,
	};

	if (len == 0 || len > BPF_MAXINSNS)
		EML_BAIL(EML_ERR_INTERNAL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
		eml_err_set_detail("seccomp: %s", strerror(errno));
		EML_BAIL(EML_ERR_PRIVDROP);
	}
	return EML_OK;
#else
	(void)filter;
	(void)len;
	EML_BAIL(EML_ERR_UNSUPPORTED);
#endif
}
