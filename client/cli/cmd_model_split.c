/* eml model split: not built yet; replaced by the model-split issue. */
#include <stdio.h>

#include "cli.h"

int
eml_cmd_model_split(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "eml model split: not implemented in this build\n");
	return 2;
}
