/* Time wimlib's LZMS decompressor over a WFCHUNK1 chunk dump (see
 * crates/wim/examples/lzms_bench.rs), single thread, best of N rounds.
 * Build: cc -O2 -o wimlib_lzms_bench wimlib_lzms_bench.c -lwim */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wimlib.h>

struct rec { uint32_t fmt, chunk, usize, csize; const uint8_t *data; };

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static double now_clock(clockid_t c) {
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
	if (argc < 2) { fprintf(stderr, "usage: %s dump [rounds]\n", argv[0]); return 2; }
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	FILE *f = fopen(argv[1], "rb");
	if (!f) { perror(argv[1]); return 1; }
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(n);
	if (fread(buf, 1, n, f) != (size_t)n) { perror("read"); return 1; }
	fclose(f);
	if (n < 8 || memcmp(buf, "WFCHUNK1", 8)) { fprintf(stderr, "bad magic\n"); return 1; }
	size_t cap = 1024, cnt = 0;
	struct rec *recs = malloc(cap * sizeof *recs);
	uint32_t max_chunk = 1, max_out = 1;
	uint64_t total_in = 0, total_out = 0;
	for (long at = 8; at + 16 <= n;) {
		struct rec r = { le32(buf + at), le32(buf + at + 4), le32(buf + at + 8), le32(buf + at + 12), buf + at + 16 };
		at += 16 + r.csize;
		if (r.fmt != 3) continue;
		if (cnt == cap) recs = realloc(recs, (cap *= 2) * sizeof *recs);
		recs[cnt++] = r;
		if (r.chunk > max_chunk) max_chunk = r.chunk;
		if (r.usize > max_out) max_out = r.usize;
		total_in += r.csize;
		total_out += r.usize;
	}
	struct wimlib_decompressor *d;
	if (wimlib_create_decompressor(WIMLIB_COMPRESSION_TYPE_LZMS, max_chunk, &d)) { fprintf(stderr, "create failed\n"); return 1; }
	uint8_t *out = malloc(max_out);
	memset(out, 0, max_out); /* fault the pages in before timing */
	double best = 1e30, best_wall = 1e30;
	for (int k = 0; k < rounds; k++) {
		double w = now_clock(CLOCK_MONOTONIC);
		double t = now_clock(CLOCK_THREAD_CPUTIME_ID);
		for (size_t i = 0; i < cnt; i++)
			if (wimlib_decompress(recs[i].data, recs[i].csize, out, recs[i].usize, d)) { fprintf(stderr, "chunk %zu failed\n", i); return 1; }
		t = now_clock(CLOCK_THREAD_CPUTIME_ID) - t;
		w = now_clock(CLOCK_MONOTONIC) - w;
		if (t < best) best = t;
		if (w < best_wall) best_wall = w;
	}
	printf("wimlib %s: %zu chunks, %llu -> %llu bytes, best of %d: cpu %.3f s (wall %.3f s), %.1f MB/s\n", argv[1], cnt,
	       (unsigned long long)total_in, (unsigned long long)total_out, rounds, best, best_wall, total_out / best / 1e6);
	return 0;
}
