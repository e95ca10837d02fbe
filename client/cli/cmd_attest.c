/* eml attest: not built yet; replaced by the issue that builds it. */
#include <stdio.h>

#include "cli.h"

int
eml_cmd_attest(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "eml attest: not implemented in this build\n");
	return 2;
}
