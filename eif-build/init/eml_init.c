/*
 * eml-init: PID 1 of the EphemeralML enclave image (docs/DEPLOY.md,
 * eif-build/README.md). Static, libc only, no allocation.
 *
 * What a Nitro enclave's first process must do, in order:
 *   1. mount devtmpfs on /dev (the agent needs /dev/nsm, /dev/urandom and
 *      /dev/console), proc and sysfs (glibc counts CPUs there);
 *   2. put stdin/stdout/stderr on /dev/console (seen only in debug mode);
 *   3. load /nsm.ko when the image carries it (kernels that build the NSM
 *      driver as a module, like the 4.14 kernel nitro-cli ships), then
 *      delete it;
 *   4. tell the host the enclave booted: connect vsock CID 3 port 9000,
 *      send 0xB7, read 0xB7 back; nitro-cli run-enclave waits for this;
 *   5. start the agent from /etc/eml/agent.cmd (one argument per line,
 *      the first the program) with the environment of /etc/eml/agent.env
 *      (one NAME=VALUE per line, optional), in its own session, with no
 *      cap on locked memory (the enclave's memory is the agent's: every
 *      session's secrets live in mlock'ed pages);
 *   6. reap every child; when the agent exits, power off: the enclave
 *      ends, and the operator's unit starts a fresh one. No restart in
 *      place: a fresh enclave is the only state the image vouches for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

#define HEARTBEAT_CID 3u
#define HEARTBEAT_PORT 9000u
#define HEARTBEAT_BYTE 0xB7
#define CMD_FILE "/etc/eml/agent.cmd"
#define ENV_FILE "/etc/eml/agent.env"
#define NSM_KO "/nsm.ko"
#define FILE_MAX 4096
#define ARGS_MAX 32

static void
say(const char *what, const char *detail)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "eml-init: %s%s%s\n", what,
	    detail != NULL ? ": " : "", detail != NULL ? detail : "");

	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void __attribute__((noreturn))
halt(const char *why)
{
	say("stopping the enclave", why);
	sync();
	(void)reboot(RB_AUTOBOOT);
	for (;;)
		pause();
}

static void
mount_one(const char *src, const char *dir, const char *type, unsigned long flags)
{
	(void)mkdir(dir, 0755);
	if (mount(src, dir, type, flags, NULL) != 0 && errno != EBUSY)
		say(dir, strerror(errno));
}

static void
console(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return; /* nowhere to say it */
	for (int i = 0; i < 3; i++)
		(void)dup2(fd, i);
	if (fd > 2)
		(void)close(fd);
}

static void
load_nsm(void)
{
	int fd = open(NSM_KO, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return; /* a kernel with the driver built in */
	if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) {
		say("loading " NSM_KO, strerror(errno));
		halt("no NSM driver");
	}
	(void)close(fd);
	(void)unlink(NSM_KO);
}

static void
heartbeat(void)
{
	struct sockaddr_vm sa;
	unsigned char b = HEARTBEAT_BYTE;
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		say("heartbeat: no vsock", strerror(errno));
		return;
	}
	memset(&sa, 0, sizeof(sa));
	sa.svm_family = AF_VSOCK;
	sa.svm_cid = HEARTBEAT_CID;
	sa.svm_port = HEARTBEAT_PORT;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || write(fd, &b, 1) != 1 ||
	    read(fd, &b, 1) != 1 || b != HEARTBEAT_BYTE)
		say("heartbeat to the host failed", strerror(errno));
	(void)close(fd);
}

/* Lines of a small file into vec (NULL-terminated), in place in buf. */
static int
read_lines(const char *path, char *buf, size_t cap, char **vec, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, n = 0;
	char *p;

	if (fd < 0)
		return -1;
	while (len < cap - 1) {
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	(void)close(fd);
	buf[len] = '\0';
	for (p = buf; *p != '\0' && n < max - 1;) {
		char *nl = strchr(p, '\n');

		if (nl != NULL)
			*nl = '\0';
		if (*p != '\0')
			vec[n++] = p;
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	vec[n] = NULL;
	return (int)n;
}

int
main(void)
{
	static char cmd_buf[FILE_MAX], env_buf[FILE_MAX];
	char *argv[ARGS_MAX], *envp[ARGS_MAX];
	pid_t agent;

	if (getpid() != 1) {
		(void)fprintf(stderr, "eml-init: runs only as PID 1 inside the enclave image\n");
		return 2;
	}
	mount_one("dev", "/dev", "devtmpfs", MS_NOSUID | MS_NOEXEC);
	console();
	mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
	load_nsm();
	heartbeat();
	if (read_lines(CMD_FILE, cmd_buf, sizeof(cmd_buf), argv, ARGS_MAX) < 1)
		halt("no " CMD_FILE);
	if (read_lines(ENV_FILE, env_buf, sizeof(env_buf), envp, ARGS_MAX) < 0)
		envp[0] = NULL;
	agent = fork();
	if (agent < 0)
		halt("fork failed");
	if (agent == 0) {
		struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

		(void)setsid();
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			say("RLIMIT_MEMLOCK", strerror(errno));
		execve(argv[0], argv, envp);
		say("exec", strerror(errno));
		_exit(127);
	}
	say("agent started", argv[0]);
	for (;;) {
		int st = 0;
		pid_t p = waitpid(-1, &st, 0);

		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			halt("no children left");
		if (p == agent)
			halt(WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "agent exited" : "agent failed");
	}
}
