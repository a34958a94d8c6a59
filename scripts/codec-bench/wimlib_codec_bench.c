/*
 * wimlib side of the codec benchmark: decodes every chunk of a chunk dump
 * (written by `codec_bench dump`, format in crates/wim/examples/codec_bench.rs)
 * with libwim's public decompressor API and prints, per format, the same line
 * as `codec_bench run`: format=NAME chunks=N bytes=B best_cpu_s=T
 * best_wall_s=W mbps=M checksum=C
 * (best of ITERS passes timed with the thread CPU clock, wall time also
 * printed; MB/s of decompressed output; FNV-1a of all outputs).
 *
 * Build: gcc -O2 -o wimlib_codec_bench wimlib_codec_bench.c -lwim
 * Usage: wimlib_codec_bench CHUNKS.bin [ITERS]
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wimlib.h>

struct rec {
	uint32_t format, chunk_size, usize, csize;
	const uint8_t *data;
};

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static double now_clock(clockid_t clk)
{
	struct timespec ts;
	clock_gettime(clk, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *fmt_name(uint32_t f)
{
	switch (f) {
	case 1: return "xpress";
	case 2: return "lzx";
	case 3: return "lzms";
	default: return "none";
	}
}

#define MAX_DECS 32

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CHUNKS.bin [ITERS]\n", argv[0]);
		return 2;
	}
	int iters = argc > 2 ? atoi(argv[2]) : 5;
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(len);
	if (!buf || fread(buf, 1, len, f) != (size_t)len) {
		fprintf(stderr, "read failed\n");
		return 1;
	}
	fclose(f);
	if (len < 8 || memcmp(buf, "WFCHUNK1", 8) != 0) {
		fprintf(stderr, "not a chunk dump\n");
		return 1;
	}

	size_t n = 0, cap = 1024;
	struct rec *recs = malloc(cap * sizeof(*recs));
	for (long p = 8; p + 16 <= len;) {
		if (n == cap)
			recs = realloc(recs, (cap *= 2) * sizeof(*recs));
		struct rec *r = &recs[n++];
		r->format = get32(buf + p);
		r->chunk_size = get32(buf + p + 4);
		r->usize = get32(buf + p + 8);
		r->csize = get32(buf + p + 12);
		r->data = buf + p + 16;
		p += 16 + r->csize;
		if (p > len) {
			fprintf(stderr, "truncated dump\n");
			return 1;
		}
	}

	for (uint32_t fmt = 1; fmt <= 3; fmt++) {
		struct wimlib_decompressor *decs[MAX_DECS];
		uint32_t dec_sizes[MAX_DECS];
		int ndecs = 0;
		size_t count = 0, total = 0, max_out = 0;
		for (size_t i = 0; i < n; i++) {
			if (recs[i].format != fmt)
				continue;
			count++;
			total += recs[i].usize;
			if (recs[i].usize > max_out)
				max_out = recs[i].usize;
			int k;
			for (k = 0; k < ndecs; k++)
				if (dec_sizes[k] == recs[i].chunk_size)
					break;
			if (k == ndecs && ndecs < MAX_DECS) {
				if (wimlib_create_decompressor(fmt, recs[i].chunk_size,
							       &decs[ndecs])) {
					fprintf(stderr, "create_decompressor failed\n");
					return 1;
				}
				dec_sizes[ndecs++] = recs[i].chunk_size;
			}
		}
		if (!count)
			continue;
		uint8_t *out = malloc(max_out ? max_out : 1);
		/* Map each record to its decompressor once, outside the timing. */
		struct wimlib_decompressor **which = malloc(n * sizeof(*which));
		for (size_t i = 0; i < n; i++) {
			which[i] = NULL;
			for (int k = 0; k < ndecs; k++)
				if (recs[i].format == fmt &&
				    dec_sizes[k] == recs[i].chunk_size)
					which[i] = decs[k];
		}
		uint64_t sum = 0xcbf29ce484222325ULL;
		size_t failed = 0;
		for (size_t i = 0; i < n; i++) {
			if (!which[i])
				continue;
			if (wimlib_decompress(recs[i].data, recs[i].csize, out,
					      recs[i].usize, which[i]))
				failed++;
			for (uint32_t j = 0; j < recs[i].usize; j++) {
				sum ^= out[j];
				sum *= 0x100000001b3ULL;
			}
		}
		if (failed) {
			printf("format=%s chunks=%zu failed=%zu\n", fmt_name(fmt),
			       count, failed);
			continue;
		}
		double best = 1e30, best_wall = 1e30;
		for (int it = 0; it < iters; it++) {
			double w = now_clock(CLOCK_MONOTONIC);
			double t = now_clock(CLOCK_THREAD_CPUTIME_ID);
			for (size_t i = 0; i < n; i++)
				if (which[i])
					wimlib_decompress(recs[i].data, recs[i].csize,
							  out, recs[i].usize, which[i]);
			t = now_clock(CLOCK_THREAD_CPUTIME_ID) - t;
			w = now_clock(CLOCK_MONOTONIC) - w;
			if (t < best)
				best = t;
			if (w < best_wall)
				best_wall = w;
		}
		printf("format=%s chunks=%zu bytes=%zu best_cpu_s=%.6f best_wall_s=%.6f mbps=%.1f checksum=%016llx\n",
		       fmt_name(fmt), count, total, best, best_wall,
		       total / best / 1e6, (unsigned long long)sum);
		for (int k = 0; k < ndecs; k++)
			wimlib_free_decompressor(decs[k]);
		free(out);
		free(which);
	}
	return 0;
}
