/* A qemu-user TCG plugin: retired guest instructions, in total, between markers the
 * guest sets, and per translated block for an attribution by library.
 *
 * Built by tools/insncount.py against the qemu-plugin.h of the qemu it runs under
 * (Debian's qemu-user, plugin API version 1). Counting is inline: each translated
 * block adds its instruction count to a total and to its own slot, so nothing is
 * called per block at run time.
 *
 * The guest talks to the plugin through a syscall number no kernel has, MARKER_NR:
 * qemu-user answers it with ENOSYS after the plugin has seen it, and so does a real
 * kernel, so marked code runs unchanged without the plugin.
 *     syscall(MARKER_NR, 1, id)     begin span `id` (0 <= id < MAX_SPANS)
 *     syscall(MARKER_NR, 2, id)     end span `id`: its instructions since the begin are
 *                                   added to span `id`, and its calls counted
 *     syscall(MARKER_NR, 3)         write the table to the plugin's out= file, now
 *     syscall(MARKER_NR, 4)         zero every span and block counter
 * The file: "total N" (instructions since start or the last reset), then
 * "span ID CALLS INSNS" per span that ended at least once, then "block VADDR INSNS"
 * per guest address that ran since the last reset (with blocks=on).
 *
 * Counts are exact for one guest thread. Blocks of several threads add to the same
 * counters without atomics, so a multi-threaded guest can lose counts: measure with
 * one thread.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

#define MARKER_NR 0xBE27 /* "BERT"; Linux syscall numbers stay far below */
#define MAX_SPANS 4096
#define SLOTS_PER_CHUNK 65536

enum { OP_BEGIN = 1, OP_END = 2, OP_DUMP = 3, OP_RESET = 4 };

typedef struct {
    uint64_t vaddr;
    uint64_t n_insns;
    uint64_t execs; /* inline: +1 per execution of this translation */
} Slot;

typedef struct Chunk {
    Slot slots[SLOTS_PER_CHUNK];
    size_t used;
    struct Chunk *next;
} Chunk;

static uint64_t total;
static uint64_t span_start[MAX_SPANS];
static uint64_t span_insns[MAX_SPANS];
static uint64_t span_calls[MAX_SPANS];
static char out_path[4096];
static int with_blocks;
static Chunk *chunks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static Slot *new_slot(void)
{
    pthread_mutex_lock(&lock);
    if (!chunks || chunks->used == SLOTS_PER_CHUNK) {
        Chunk *c = calloc(1, sizeof(Chunk));
        if (!c) {
            pthread_mutex_unlock(&lock);
            return NULL;
        }
        c->next = chunks;
        chunks = c;
    }
    Slot *s = &chunks->slots[chunks->used++];
    pthread_mutex_unlock(&lock);
    return s;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    uint64_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
    if (!with_blocks)
        return;
    Slot *s = new_slot();
    if (!s)
        return;
    s->vaddr = qemu_plugin_tb_vaddr(tb);
    s->n_insns = n;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &s->execs, 1);
}

static int by_vaddr(const void *a, const void *b)
{
    uint64_t x = ((const Slot *)a)->vaddr, y = ((const Slot *)b)->vaddr;
    return x < y ? -1 : x > y;
}

static void dump(void)
{
    FILE *f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("insn_count: cannot open the out= file\n");
        return;
    }
    fprintf(f, "total %" PRIu64 "\n", total);
    for (int i = 0; i < MAX_SPANS; i++)
        if (span_calls[i])
            fprintf(f, "span %d %" PRIu64 " %" PRIu64 "\n", i, span_calls[i], span_insns[i]);
    pthread_mutex_lock(&lock);
    size_t n = 0;
    for (Chunk *c = chunks; c; c = c->next)
        n += c->used;
    Slot *all = n ? malloc(n * sizeof(Slot)) : NULL;
    size_t k = 0;
    for (Chunk *c = chunks; c && all; c = c->next)
        for (size_t i = 0; i < c->used; i++)
            if (c->slots[i].execs)
                all[k++] = c->slots[i];
    pthread_mutex_unlock(&lock);
    if (all) {
        qsort(all, k, sizeof(Slot), by_vaddr);
        for (size_t i = 0; i < k;) { /* one line per address: retranslations summed */
            uint64_t v = all[i].vaddr, insns = 0;
            for (; i < k && all[i].vaddr == v; i++)
                insns += all[i].execs * all[i].n_insns;
            fprintf(f, "block %" PRIx64 " %" PRIu64 "\n", v, insns);
        }
        free(all);
    }
    fclose(f);
}

static void reset(void)
{
    total = 0;
    memset(span_insns, 0, sizeof span_insns);
    memset(span_calls, 0, sizeof span_calls);
    pthread_mutex_lock(&lock);
    for (Chunk *c = chunks; c; c = c->next)
        for (size_t i = 0; i < c->used; i++)
            c->slots[i].execs = 0;
    pthread_mutex_unlock(&lock);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                       uint64_t a7, uint64_t a8)
{
    (void)id, (void)vcpu, (void)a3, (void)a4, (void)a5, (void)a6, (void)a7, (void)a8;
    if (num != MARKER_NR)
        return;
    if ((a1 == OP_BEGIN || a1 == OP_END) && a2 >= MAX_SPANS)
        return;
    switch (a1) {
    case OP_BEGIN:
        span_start[a2] = total;
        break;
    case OP_END:
        span_insns[a2] += total - span_start[a2];
        span_calls[a2] += 1;
        break;
    case OP_DUMP:
        dump();
        break;
    case OP_RESET:
        reset();
        break;
    }
}

static void on_guest_exit(qemu_plugin_id_t id, void *p)
{
    (void)id, (void)p;
    dump();
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    snprintf(out_path, sizeof out_path, "insn_count.txt");
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        } else if (strncmp(argv[i], "blocks=", 7) == 0) {
            bool on = false;
            if (!qemu_plugin_bool_parse("blocks", argv[i] + 7, &on)) {
                fprintf(stderr, "insn_count: blocks=on|off, got %s\n", argv[i] + 7);
                return -1;
            }
            with_blocks = on;
        } else {
            fprintf(stderr, "insn_count: unknown argument %s (out=FILE, blocks=on|off)\n",
                    argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_guest_exit, NULL);
    return 0;
}
