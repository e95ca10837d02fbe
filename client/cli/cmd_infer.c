/* eml infer: not built yet; replaced by the issue that builds it. */
#include <stdio.h>

#include "cli.h"

int
eml_cmd_infer(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "eml infer: not implemented in this build\n");
	return 2;
}
