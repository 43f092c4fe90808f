/* deadline: when a run must be over (issue 19), so that the coordinator stops handing out items
 * whose estimated cost does not fit and a Slurm requeue loses no work in progress. Sources, first
 * found wins: `run --deadline WHEN`; SLURM_JOB_END_TIME (epoch seconds, set by recent Slurm in the
 * job's environment); `squeue -h -j $SLURM_JOB_ID -o %e` (the job's end time, local time). */
#ifndef KV_DEADLINE_H
#define KV_DEADLINE_H

/* WHEN: "+SECONDS" or "+N[smh]" from now, epoch seconds ("1764466800"), or a time
 * "YYYY-MM-DDTHH:MM[:SS]" (UTC with a trailing Z, else local time as squeue prints it).
 * *t = epoch seconds. Status (message: what was expected). */
int deadline_parse(const char *when, double now, double *t);

/* The job's end time from Slurm (SLURM_JOB_END_TIME, else squeue for SLURM_JOB_ID); 0 when not
 * under Slurm or unknown (UNLIMITED); *source names where it came from. */
double deadline_from_slurm(const char **source);

/* Wall-clock now, epoch seconds (the deadline is a wall-clock time, kv_now is monotonic). */
double deadline_now(void);

/* Estimated seconds for an item of estimated cost `cost`: the cost scaled by what the items done
 * so far really took (busy worker-seconds over their summed cost); the raw cost before any. */
double deadline_item_seconds(double cost, double busy_s, double cost_done);

#endif
