/* fuzz_sweep: libFuzzer target for the sweep YAML parser and validator (harness/sweep/sweep.c) and the
 * variant expansion. Models are not opened (sweep_check_models would read whatever path the
 * input names); everything before that is exercised. Relative paths resolve against the folder
 * the fuzzer runs in (tests/fuzz/run.sh runs from the repository root, so data/demo exists). */
#include "fuzz_common.h"
#include "harness/sweep/sweep.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.yaml", data, size);
    sweep s;
    memset(&s, 0, sizeof s);
    if (sweep_load(path, &s) == KV_OK) {
        sweep_variant *v = NULL;
        int n = 0;
        if (sweep_variants(&s, &v, &n) == KV_OK) free(v);
        char buf[1024];
        for (int i = 0; i < s.n_tasks; i++) sweep_task_path(&s, s.tasks[i], buf, sizeof buf);
        for (int i = 0; i < 64; i++) (void)sweep_sample_selected(&s, i);
        sweep_free(&s);
    }
    return 0;
}
