/* wait_policy: the OpenMP wait policy kvbench picks when the user has not chosen one.
 *
 * Spinning waits lose 3-14x when more threads want the cores than there are (mpirun ranks on a
 * node, a shared CI machine; BENCHMARKS §2), so waits are passive: a thread with nothing to do
 * sleeps at once. But a decode step opens ~450 parallel regions, and waking a sleeping thread costs
 * tens of microseconds on a VM, a third of a 26-variant batched step (BENCHMARKS §5.7.3). So when
 * the cores are ours alone at start-up (no other rank of this job on the node, nothing else
 * runnable, no more threads than CPUs), a thread first spins for a bounded while (GOMP_SPINCOUNT
 * pauses, ~0.1 ms here) before it sleeps. libgomp reads these variables before main runs, hence
 * the re-execution. */
#include "harness/cli/wait_policy.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Valgrind's client request, when its header is installed. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

/* Pauses a waiting thread spins before it sleeps: ~0.1 ms at the ~10 ns a pause takes on this
 * project's Xeon VM (tools/fma_peak.c), longer than the gaps between a decode step's regions. */
#define SPIN_PAUSES "10000"

/* Ranks of this job on this node, from the launcher (Open MPI, MPICH/Hydra, Slurm's srun: "4(x2)" or
 * "2,1" start with this node's count); 1 if none. */
static int local_ranks(void)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_STEP_TASKS_PER_NODE",
                                 "SLURM_NTASKS_PER_NODE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 1;
}

/* Threads this process will run: --threads N, else OMP_NUM_THREADS, else one per CPU. */
static int threads_wanted(char **argv, int cpus)
{
    for (int i = 1; argv[i]; i++) {
        if (!strcmp(argv[i], "--threads") && argv[i + 1] && atoi(argv[i + 1]) > 0) return atoi(argv[i + 1]);
        if (!strncmp(argv[i], "--threads=", 10) && atoi(argv[i] + 10) > 0) return atoi(argv[i] + 10);
    }
    const char *v = getenv("OMP_NUM_THREADS");
    return v && atoi(v) > 0 ? atoi(v) : cpus;
}

/* Tasks runnable now besides this one (/proc/loadavg's "running/total"); -1 if unknown. */
static int others_runnable_now(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) return -1;
    double l1, l5, l15;
    int running = 0, total = 0;
    const int n = fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total);
    fclose(f);
    return n == 5 && running >= 1 ? running - 1 : -1;
}

/* The fewest other runnable tasks over a few samples 1 ms apart: a shell or kernel thread caught
 * running at one instant does not count, a job that keeps the cores busy does. */
static int others_runnable(void)
{
    int fewest = -1;
    for (int i = 0; i < 5 && fewest != 0; i++) {
        if (i) usleep(1000);
        const int n = others_runnable_now();
        if (n >= 0 && (fewest < 0 || n < fewest)) fewest = n;
    }
    return fewest;
}

/* The cores look like ours alone: one rank here, nothing else runnable, threads <= CPUs. */
static int cores_free(char **argv)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set)) return 0;
    const int cpus = CPU_COUNT(&set), others = others_runnable();
    return local_ranks() == 1 && others == 0 && threads_wanted(argv, cpus) <= cpus;
}

/* Under valgrind the program must not re-execute: the new image would run natively, outside
 * memcheck (it does not follow exec by default), checking nothing. */
static int under_valgrind(void)
{
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND) return 1;
#endif
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload"); /* the same, when built without valgrind.h */
}

void wait_policy_default(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || under_valgrind()) return;
    /* Only when /proc/self/exe is this program, not another loader running it. */
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return;
    self[n] = 0;
    const char *a = strrchr(argv[0], '/'), *b = strrchr(self, '/');
    if (strcmp(a ? a + 1 : argv[0], b ? b + 1 : self)) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    if (cores_free(argv)) setenv("GOMP_SPINCOUNT", SPIN_PAUSES, 1);
    execv(self, argv);
    /* exec failed: carry on with the default policy */
}
