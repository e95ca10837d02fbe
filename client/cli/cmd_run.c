/* eml run: not built yet; replaced by the issue that builds it. */
#include <stdio.h>

#include "cli.h"

int
eml_cmd_run(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "eml run: not implemented in this build\n");
	return 2;
}
