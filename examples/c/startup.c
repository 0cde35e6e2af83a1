/* Cortex-M4F start-up for QEMU's mps2-an386: a vector table whose reset
 * handler turns the FPU on (CPACR: CP10 and CP11 full access) and enters
 * newlib's crt0 (_start), which sets up the C library and calls main. */
#include <stdint.h>

extern void _start(void);
extern uint32_t __stack;

void reset_handler(void) {
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    _start();
}

static void fault_handler(void) {
    for (;;) {
    }
}

__attribute__((section(".vectors"), used)) const void *const vector_table[16] = {
    &__stack, reset_handler, fault_handler, fault_handler, fault_handler, fault_handler, fault_handler,
};
