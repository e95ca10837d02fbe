/* eml-agent: the enclave side. Not built yet; the end-to-end issue fills it in. */
#include <stdio.h>

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "eml-agent: not implemented in this build\n");
	return 2;
}
