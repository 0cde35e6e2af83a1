/* Trains tinyreg's MLP, then a small residual CNN with batch norm and dropout
 * described as an array of layer descriptors, on the digits set from C: ask
 * for the memory size, hand in a buffer, train, evaluate, predict, read the
 * parameters out and into a second model. The same file runs on the host (gcc)
 * and on a Cortex-M4F under QEMU (arm-none-eabi-gcc, newlib with rdimon
 * semihosting, which also serves fopen). Usage: c-example [data-dir]. Exit
 * status 0 when the test accuracy reaches the bar. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tinyreg.h"

#define HEADER 32
#define TRAIN_MAX 1437
#define TEST_MAX 360
#define FEATURES 64
#define EPOCHS 10
#define CNN_EPOCHS 4
#define BAR 0.85f

static uint8_t train_file[HEADER + TRAIN_MAX * (FEATURES + 1)];
static uint8_t test_file[HEADER + TEST_MAX * (FEATURES + 1)];
static uint32_t order[TRAIN_MAX];
static float memory[20000];
static TinyregMlp mlp;

/* 8x8 digits: conv 3x3 (8) + BatchNorm2d + ReLU, a residual block (conv +
 * BatchNorm2d, stochastic depth 0.9) + ReLU, spatial dropout, 2x2 max
 * pooling, dropout, dense 10. Fields: kind, size, kernel, stride, padding,
 * flags, p, samplings (fractional pooling's eval). */
static const TinyregLayer cnn_layers[] = {
    {TINYREG_LAYER_CONV, 8, 3, 1, 1, 0, 0.0f, 0},
    {TINYREG_LAYER_BATCH_NORM_2D, 0, 0, 0, 0, 0, 0.0f, 0},
    {TINYREG_LAYER_RELU, 0, 0, 0, 0, 0, 0.0f, 0},
    {TINYREG_LAYER_BLOCK_START, 0, 0, 0, 0, 0, 0.9f, 0},
    {TINYREG_LAYER_CONV, 8, 3, 1, 1, 0, 0.0f, 0},
    {TINYREG_LAYER_BATCH_NORM_2D, 0, 0, 0, 0, 0, 0.0f, 0},
    {TINYREG_LAYER_BLOCK_END, 0, 0, 0, 0, 0, 0.0f, 0},
    {TINYREG_LAYER_RELU, 0, 0, 0, 0, 0, 0.0f, 0},
    {TINYREG_LAYER_SPATIAL_DROPOUT, 0, 0, 0, 0, 0, 0.9f, 0},
    {TINYREG_LAYER_MAX_POOL, 0, 2, 2, 0, 0, 0.0f, 0},
    {TINYREG_LAYER_DROPOUT, 0, 0, 0, 0, 0, 0.8f, 0},
    {TINYREG_LAYER_DENSE, 10, 0, 0, 0, 0, 0.0f, 0},
};
#define CNN_LAYERS (sizeof cnn_layers / sizeof cnn_layers[0])
static float cnn_memory[160000];
static float cnn_copy_memory[160000];
static uint8_t cnn_checkpoint[12000];
static TinyregNet cnn, cnn_copy;

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* Reads an ICLS v1 file into buf and describes it as a TinyregDataset. */
static int load(const char *dir, const char *name, uint8_t *buf, size_t cap, TinyregDataset *out) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) { printf("cannot open %s\n", path); return -1; }
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    if (n < HEADER || buf[0] != 'I' || buf[1] != 'C' || buf[2] != 'L' || buf[3] != 'S') return -1;
    uint32_t count = le32(buf + 8), features = le32(buf + 12) * le32(buf + 16) * le32(buf + 20);
    if (features != FEATURES || n != HEADER + (size_t)count * (features + 1)) return -1;
    out->images = buf + HEADER;
    out->labels = buf + HEADER + (size_t)count * features;
    out->count = count;
    out->features = features;
    out->max_value = le32(buf + 28);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data";
    TinyregDataset train, test;
    if (load(dir, "digits-train.bin", train_file, sizeof train_file, &train) ||
        load(dir, "digits-test.bin", test_file, sizeof test_file, &test))
        return 4;

    TinyregMlpConfig config = {
        .inputs = FEATURES, .hidden = 32, .classes = 10, .batch = 16, .keep = 0.9f,
        .optimizer = TINYREG_ADAM, .learning_rate = 3e-3f, .seed = 2026,
    };
    size_t bytes = tinyreg_mlp_memory_bytes(&config);
    printf("C: tinyreg MLP 64-32-10 needs %u bytes\n", (unsigned)bytes);
    if (bytes == 0 || bytes > sizeof memory) return 5;

    /* Errors come back as status codes: a too-small buffer, a bad keep. */
    if (tinyreg_mlp_init(&mlp, &config, memory, bytes - 4) != TINYREG_ERR_BUFFER_TOO_SMALL) return 6;
    TinyregMlpConfig bad = config;
    bad.keep = 1.5f;
    if (tinyreg_mlp_memory_bytes(&bad) != 0 || tinyreg_mlp_init(&mlp, &bad, memory, bytes) != TINYREG_ERR_CONFIG) return 7;

    int status = tinyreg_mlp_init(&mlp, &config, memory, sizeof memory);
    if (status != TINYREG_OK) { printf("init: %d\n", status); return 8; }
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        float loss, acc;
        status = tinyreg_mlp_train_epoch(&mlp, &train, order, &loss, &acc);
        if (status != TINYREG_OK) { printf("train: %d\n", status); return 9; }
        printf("epoch %d: loss %d.%03d\n", epoch, (int)loss, (int)(loss * 1000) % 1000);
    }
    float test_loss, test_acc;
    status = tinyreg_mlp_evaluate(&mlp, &test, &test_loss, &test_acc);
    if (status != TINYREG_OK) return 10;

    /* Predict the first test image from floats in [0, 1]. */
    float x[FEATURES], probs[10];
    for (int i = 0; i < FEATURES; i++) x[i] = test.images[i] / (float)test.max_value;
    if (tinyreg_mlp_predict(&mlp, x, 1, probs) != TINYREG_OK) return 11;
    int best = 0;
    for (int k = 1; k < 10; k++) if (probs[k] > probs[best]) best = k;
    printf("C: test accuracy %d%%, first test image: predicted %d, label %d\n",
           (int)(test_acc * 100 + 0.5f), best, test.labels[0]);
    if (test_acc < BAR) return 2;

    /* The CNN, from descriptors. */
    TinyregNetConfig net = {
        .layers = cnn_layers, .count = CNN_LAYERS, .channels = 1, .height = 8, .width = 8,
        .classes = 10, .batch = 16, .optimizer = TINYREG_ADAM, .learning_rate = 3e-3f, .seed = 2026,
    };
    bytes = tinyreg_net_memory_bytes(&net);
    printf("C: tinyreg residual CNN (%u layers) needs %u bytes\n", (unsigned)CNN_LAYERS, (unsigned)bytes);
    if (bytes == 0 || bytes > sizeof cnn_memory) return 12;
    /* A description the library refuses: a block that never ends. */
    TinyregLayer open_block[CNN_LAYERS];
    for (unsigned i = 0; i < CNN_LAYERS; i++) open_block[i] = cnn_layers[i];
    open_block[6].kind = TINYREG_LAYER_RELU;
    TinyregNetConfig bad_net = net;
    bad_net.layers = open_block;
    if (tinyreg_net_memory_bytes(&bad_net) != 0 ||
        tinyreg_net_init(&cnn, &bad_net, cnn_memory, sizeof cnn_memory) != TINYREG_ERR_CONFIG) return 13;

    status = tinyreg_net_init(&cnn, &net, cnn_memory, sizeof cnn_memory);
    if (status != TINYREG_OK) { printf("net init: %d\n", status); return 14; }
    for (int epoch = 1; epoch <= CNN_EPOCHS; epoch++) {
        float loss, acc;
        status = tinyreg_net_train_epoch(&cnn, &train, order, train.count, &loss, &acc);
        if (status != TINYREG_OK) { printf("net train: %d\n", status); return 15; }
        printf("CNN epoch %d: loss %d.%03d\n", epoch, (int)loss, (int)(loss * 1000) % 1000);
    }
    float cnn_loss, cnn_acc;
    if (tinyreg_net_evaluate(&cnn, &test, &cnn_loss, &cnn_acc) != TINYREG_OK) return 16;
    if (tinyreg_net_predict(&cnn, x, 1, probs) != TINYREG_OK) return 17;

    /* The trained network through a checkpoint (weights and batch norm's
     * running statistics) into a second model: the same predictions, bit
     * for bit, as on another device; a damaged checkpoint is refused. */
    size_t n = tinyreg_net_params_len(&cnn);
    size_t saved = tinyreg_net_checkpoint_bytes(&cnn, false);
    if (n == 0 || saved == 0 || saved > sizeof cnn_checkpoint) return 18;
    if (tinyreg_net_save(&cnn, false, cnn_checkpoint, saved) != TINYREG_OK) return 19;
    if (tinyreg_net_init(&cnn_copy, &net, cnn_copy_memory, sizeof cnn_copy_memory) != TINYREG_OK) return 20;
    cnn_checkpoint[saved / 2] ^= 1;
    status = tinyreg_net_load(&cnn_copy, cnn_checkpoint, saved);
    if (status != TINYREG_ERR_DATA) { printf("damaged checkpoint: %s\n", tinyreg_error_message(status)); return 21; }
    cnn_checkpoint[saved / 2] ^= 1;
    if (tinyreg_net_load(&cnn_copy, cnn_checkpoint, saved) != TINYREG_OK) return 22;
    float copy_probs[10], copy_loss, copy_acc;
    if (tinyreg_net_predict(&cnn_copy, x, 1, copy_probs) != TINYREG_OK ||
        tinyreg_net_evaluate(&cnn_copy, &test, &copy_loss, &copy_acc) != TINYREG_OK) return 23;
    if (memcmp(copy_probs, probs, sizeof copy_probs) != 0 || copy_loss != cnn_loss || copy_acc != cnn_acc) return 24;
    printf("C: checkpoint of %u bytes: the loaded CNN predicts bit for bit as the trained one\n", (unsigned)saved);

    best = 0;
    for (int k = 1; k < 10; k++) if (probs[k] > probs[best]) best = k;
    printf("C: CNN test accuracy %d%% (%u parameters), first test image: predicted %d\n",
           (int)(cnn_acc * 100 + 0.5f), (unsigned)n, best);
    return cnn_acc >= BAR ? 0 : 3;
}
