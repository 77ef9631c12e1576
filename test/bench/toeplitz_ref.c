/*
 * C baseline for `dfly bench core`: Toeplitz over a 40-byte key with one 256-entry table per input
 * byte (12 tables for src|dst|sport|dport), the same byte-table method services/core uses.
 * Built with `gcc -O2` by the benchmark at run time, in a temporary directory.
 *
 * usage: toeplitz_ref TUPLES_FILE KEY_HEX(80 digits) HASHES RUNS
 *   TUPLES_FILE: n tuples of 12 bytes each, in network byte order (src, dst, sport, dport).
 * Hashes HASHES tuples (cycling over the file) RUNS times and prints one JSON line:
 *   {"nsPerHash": best run, "sum": uint32 sum of all hashes of one run}
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEYLEN 40
#define INLEN 12

static uint32_t table[INLEN][256];

static void
build_tables(const uint8_t key[KEYLEN])
{
	for (int pos = 0; pos < INLEN; pos++) {
		for (int v = 0; v < 256; v++) {
			uint32_t h = 0;
			for (int b = 0; b < 8; b++) {
				if ((v & (0x80 >> b)) == 0)
					continue;
				int bit = pos * 8 + b; /* the key window starts at this key bit */
				uint32_t w = 0;
				for (int k = 0; k < 32; k++) {
					int kb = bit + k;
					w = (w << 1) | ((key[kb / 8] >> (7 - kb % 8)) & 1);
				}
				h ^= w;
			}
			table[pos][v] = h;
		}
	}
}

static double
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s TUPLES_FILE KEY_HEX HASHES RUNS\n", argv[0]);
		return 2;
	}
	uint8_t key[KEYLEN];
	if (strlen(argv[2]) != 2 * KEYLEN) {
		fprintf(stderr, "key must be %d hex digits\n", 2 * KEYLEN);
		return 2;
	}
	for (int i = 0; i < KEYLEN; i++) {
		unsigned int x;
		if (sscanf(argv[2] + 2 * i, "%2x", &x) != 1) {
			fprintf(stderr, "bad key hex\n");
			return 2;
		}
		key[i] = (uint8_t)x;
	}
	long hashes = atol(argv[3]);
	int runs = atoi(argv[4]);
	FILE *f = fopen(argv[1], "rb");
	if (f == NULL) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	long n = size / INLEN;
	if (n <= 0 || hashes <= 0 || runs <= 0) {
		fprintf(stderr, "empty tuple file or bad counts\n");
		return 2;
	}
	uint8_t *t = malloc(n * INLEN);
	if (t == NULL || fread(t, INLEN, n, f) != (size_t)n) {
		fprintf(stderr, "cannot read %s\n", argv[1]);
		return 1;
	}
	fclose(f);
	build_tables(key);

	double best = 1e300;
	uint32_t sum = 0;
	for (int r = 0; r < runs; r++) {
		uint32_t s = 0;
		long i = 0;
		double t0 = now_ns();
		for (long k = 0; k < hashes; k++) {
			const uint8_t *p = t + i * INLEN;
			uint32_t h = table[0][p[0]] ^ table[1][p[1]] ^ table[2][p[2]] ^ table[3][p[3]] ^
			    table[4][p[4]] ^ table[5][p[5]] ^ table[6][p[6]] ^ table[7][p[7]] ^
			    table[8][p[8]] ^ table[9][p[9]] ^ table[10][p[10]] ^ table[11][p[11]];
			s += h;
			if (++i == n)
				i = 0;
		}
		double dt = now_ns() - t0;
		if (dt / hashes < best)
			best = dt / hashes;
		sum = s;
	}
	printf("{\"nsPerHash\":%.4f,\"sum\":%u}\n", best, sum);
	free(t);
	return 0;
}
