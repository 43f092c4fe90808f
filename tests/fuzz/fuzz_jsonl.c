/* fuzz_jsonl: libFuzzer target for the LongBench JSONL reader (harness/longbench/data.c): lines
 * that do not parse, miss fields, carry wrong types, NUL bytes, huge numbers or no final newline
 * must end in KV_ERR naming file:line, never a crash. Parsed samples are also formatted into a
 * prompt to walk the template substitution. */
#include "fuzz_common.h"
#include "harness/longbench/longbench.h"
#include "util/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write("in.jsonl", data, size);
    lb_reader *r;
    if (lb_reader_open(path, &r) != KV_OK) return 0;
    const lb_task *task = lb_task_find("multi_news");
    lb_sample s;
    int rc;
    while ((rc = lb_reader_next(r, &s)) == 1) {
        char *p = lb_prompt_format(task, &s);
        free(p);
        lb_sample_free(&s);
    }
    lb_reader_close(r);
    return 0;
}
