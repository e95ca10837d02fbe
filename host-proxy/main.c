/* eml-proxy: the untrusted host relay. Not built yet; the end-to-end issue fills it in. */
#include <stdio.h>

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "eml-proxy: not implemented in this build\n");
	return 2;
}
