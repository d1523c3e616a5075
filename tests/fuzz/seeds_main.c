/*
 * seeds_main.c - replays fuzz seed files through LLVMFuzzerTestOneInput()
 * without libFuzzer, so `make check` runs every seed corpus as a regression
 * test with any compiler (and under ASan/UBSan in sanitizer builds).
 *
 * Usage: PROG [DIR|FILE]...  Directories are read one level deep, dotfiles
 * skipped. Without arguments, $SEEDS_DIR or the compiled-in SEEDS_DEFAULT is
 * used. Exit 0 when every input ran, 1 when one could not be read or none
 * was found. Each input is read whole, up to SEED_MAX bytes.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEED_MAX (1024 * 1024) /* larger seeds are refused */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read one file and run it; returns 0 on success. */
static int
run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	if ((buf = malloc(SEED_MAX + 1)) == NULL) {
		fclose(f);
		fprintf(stderr, "%s: out of memory\n", path);
		return 1;
	}
	n = fread(buf, 1, SEED_MAX + 1, f);
	if (ferror(f) || n > SEED_MAX) {
		fprintf(stderr, "%s: %s\n", path, n > SEED_MAX ? "seed too large" : "read error");
		free(buf);
		fclose(f);
		return 1;
	}
	fclose(f);
	/* Hand the fuzz target a buffer of exactly n bytes so ASan catches overreads. */
	uint8_t *exact = malloc(n ? n : 1);
	if (exact == NULL) {
		free(buf);
		return 1;
	}
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

/* Run a file, or every regular file of a directory; counts inputs in *count. */
static int
run_path(const char *path, size_t *count)
{
	struct stat st;
	struct dirent *de;
	DIR *d;
	int bad = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		++*count;
		return run_file(path);
	}
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char full[4096];
		int n;

		if (de->d_name[0] == '.')
			continue;
		n = snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(full)) {
			fprintf(stderr, "%s/%s: path too long\n", path, de->d_name);
			bad = 1;
			continue;
		}
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			++*count;
			bad |= run_file(full);
		}
	}
	closedir(d);
	return bad;
}

int
main(int argc, char **argv)
{
	const char *def = getenv("SEEDS_DIR");
	size_t count = 0;
	int bad = 0;

#ifdef SEEDS_DEFAULT
	if (def == NULL)
		def = SEEDS_DEFAULT;
#endif
	if (argc < 2) {
		if (def == NULL) {
			fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
			return 1;
		}
		bad = run_path(def, &count);
	}
	for (int i = 1; i < argc; i++)
		bad |= run_path(argv[i], &count);
	printf("%s: %zu inputs run\n", argv[0], count);
	if (count == 0) {
		fprintf(stderr, "%s: no inputs found\n", argv[0]);
		return 1;
	}
	return bad ? 1 : 0;
}
