/* Shards for CI: which shard this job is (from --shard I/N or the CI
 * system's parallel-job variables) and which variants each shard runs
 * (round robin, or balanced by the durations of a previous --json report). */
#ifndef HX_SHARD_H
#define HX_SHARD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "scenario.h"

/* --shard auto: index (0-based) and count from GitLab (CI_NODE_INDEX,
 * 1-based / CI_NODE_TOTAL), CircleCI (CIRCLE_NODE_INDEX / CIRCLE_NODE_TOTAL)
 * or Buildkite (BUILDKITE_PARALLEL_JOB / BUILDKITE_PARALLEL_JOB_COUNT), both
 * 0-based. No variables: one shard, and *note says so. False with *error set
 * when a variable is malformed or out of range. */
bool hx_shard_auto(int *index, int *count, char *note, size_t note_size, char *error,
                   size_t error_size);

/* Assigns each of n jobs a shard in [0, shards). ms NULL: round robin
 * (job i to shard i mod shards). Otherwise greedy longest processing time:
 * jobs by duration, longest first (ties: lower index first), each to the
 * least loaded shard (ties: the lower shard); ms[i] < 0 (unknown) counts as
 * the median of the known durations. Deterministic. */
void hx_shard_plan(const double *ms, size_t n, int shards, int *out);

/* The per-variant durations ("scenario/variant" -> mean ms) of a --json
 * report, or NULL with *error set. */
json_t *hx_shard_timings_load(const char *path, char *error, size_t error_size);

/* The shard of every job of the runner's loop (scenarios x variants x
 * repeat, in that order), balanced by timings when given; NULL when out of
 * memory. The caller frees it. */
int *hx_shard_assign(struct hx_scenario *const *scenarios, size_t count, int repeat, int shards,
                     const json_t *timings);

#endif
