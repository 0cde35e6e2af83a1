/* qemu-insncount.c - a QEMU TCG plugin that counts executed guest instructions.
 *
 * QEMU does not model cycles, but the number of instructions a guest executes
 * is exact and repeatable. This plugin counts all of them and, given the
 * addresses of two marker functions (begin=ADDR,end=ADDR), also the
 * instructions from each entry into `begin` to the next entry into `end`,
 * printing one line per such window. Build it with
 * scripts/build-qemu-insncount.sh; run QEMU with
 *   -plugin path/libinsncount.so,begin=0x...,end=0x... -d plugin */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t executed;         /* every guest instruction so far */
static uint64_t begin_pc = ~0ull; /* marker addresses (Thumb bit cleared) */
static uint64_t end_pc = ~0ull;
static uint64_t opened_at;        /* `executed` when the window opened */
static int in_window;
static unsigned windows;

static void enter_begin(unsigned int cpu, void *data)
{
    (void)cpu, (void)data;
    if (!in_window) {
        in_window = 1;
        opened_at = executed;
    }
}

static void enter_end(unsigned int cpu, void *data)
{
    (void)cpu, (void)data;
    if (in_window) {
        char line[80];
        in_window = 0;
        snprintf(line, sizeof line, "insncount window %u: %" PRIu64 "\n", windows++, executed - opened_at);
        qemu_plugin_outs(line);
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    for (size_t i = 0; i < qemu_plugin_tb_n_insns(tb); i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc == begin_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, enter_begin, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (pc == end_pc)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, enter_end, QEMU_PLUGIN_CB_NO_REGS, NULL);
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &executed, 1);
    }
}

static void at_guest_exit(qemu_plugin_id_t id, void *data)
{
    char line[64];
    (void)id, (void)data;
    snprintf(line, sizeof line, "insncount total: %" PRIu64 "\n", executed);
    qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!strncmp(arg, "begin=", 6))
            begin_pc = strtoull(arg + 6, NULL, 0) & ~1ull;
        else if (!strncmp(arg, "end=", 4))
            end_pc = strtoull(arg + 4, NULL, 0) & ~1ull;
        else {
            fprintf(stderr, "insncount: unknown argument %s\n", arg);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_guest_exit, NULL);
    return 0;
}
