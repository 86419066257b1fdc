/*
 * ram-pattern: a test tool of the pkernfs lab test (built static by the test, copied to the lab host).
 *   ram-pattern fill  FILE OFFSET LENGTH SEED   write the pattern into FILE through a shared mapping
 *                                               (pkernfs files have no write(); the VM sees it at once)
 *   ram-pattern check FILE OFFSET LENGTH SEED   read FILE (e.g. QEMU's pmemsave of guest memory) and
 *                                               count the 8-byte words that are not the pattern
 * The pattern's word i is a 64-bit mix of SEED and i: no two words alike, none zero in practice.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t word(uint64_t seed, uint64_t i)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ull);
	x ^= x >> 31; x *= 0xbf58476d1ce4e5b9ull; x ^= x >> 27; x *= 0x94d049bb133111ebull; x ^= x >> 31;
	return x;
}

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[1], "fill") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: ram-pattern fill|check FILE OFFSET LENGTH SEED\n");
		return 2;
	}
	int fill = !strcmp(argv[1], "fill");
	uint64_t off = strtoull(argv[3], NULL, 0), len = strtoull(argv[4], NULL, 0), seed = strtoull(argv[5], NULL, 0);
	if (off % 4096 || len % 8 || !len) { fprintf(stderr, "ram-pattern: OFFSET must be page aligned, LENGTH a non-zero multiple of 8\n"); return 2; }
	int fd = open(argv[2], fill ? O_RDWR : O_RDONLY);
	if (fd < 0) { perror(argv[2]); return 1; }
	unsigned char *m = mmap(NULL, off + len, fill ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) { perror("mmap"); return 1; }
	uint64_t *w = (uint64_t *)(m + off), bad = 0, n = len / 8;
	for (uint64_t i = 0; i < n; i++) {
		if (fill) w[i] = word(seed, i);
		else if (w[i] != word(seed, i)) bad++;
	}
	/* no msync: a shared mapping's writes are what every other mapping (the VM's) sees; pkernfs has no fsync */
	printf("%s %llu words, %llu differ\n", fill ? "wrote" : "checked", (unsigned long long)n, (unsigned long long)bad);
	return bad ? 3 : 0;
}
