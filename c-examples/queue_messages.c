/* queue_messages: fixed-size struct messages through a queue, with priorities and with
 * System V-style message types, each as one ring per priority (or type).
 *
 *     queue_messages [NORMAL_ADDRESS URGENT_ADDRESS]
 *         defaults: shm://ipcring-example-queue-normal?capacity=8&msg_size=64
 *                   shm://ipcring-example-queue-urgent?capacity=8&msg_size=64
 *
 * Part 1 sends five messages {id, text} and then "Terminate", messages 2 and 4 with the
 * higher priority, and receives until "Terminate": urgent ones first, FIFO within one
 * priority. Part 2 treats the two rings as System V message types 1 and 2: it receives
 * type 2 only (the other type stays queued), then type 1.
 *
 * Ports seed row 5 (mq_open / mq_send / mq_receive / mq_unlink in one program, and msgsnd /
 * msgrcv with a type). Like mq_open(O_CREAT | O_EXCL), the program creates its rings with
 * IPCRING_CREATE | IPCRING_EXCL and removes them at the end, on every path.
 *
 * What differs:
 * - mq_send takes any priority 0..MQ_PRIO_MAX-1 and one queue orders them; here each
 *   priority is its own ring and the receiver asks the higher one first. That matches
 *   mq_receive for the messages already queued, but there is no call that waits on two
 *   rings at once: a receiver in another process would poll each with a short timeout.
 * - msgrcv(type T) takes the first message of type T: here, a receive on ring T. msgrcv
 *   with type 0 (any type, in arrival order) has no equivalent across rings: arrival order
 *   is kept only within one ring.
 * - The message has no type or priority field (the ring is the type), and only the bytes
 *   that matter are sent: the id and the text's characters, not sizeof(struct message)
 *   (msgsnd's size must not count the long type field; the seed's did).
 * - Sending all messages before receiving any, in one process, needs room for all of them:
 *   the sends do not wait (a full ring is an error here, where mq_send would block forever).
 */
#include "example_util.h"

#include <stddef.h>
#include <stdint.h>

struct message {
    int32_t id;
    char text[60]; /* not NUL-terminated on the wire: the message's length says where it ends */
};
#define MESSAGE_HEADER offsetof(struct message, text)

enum { NORMAL, URGENT, NRINGS };
static const char *addrs[NRINGS] = {
    "shm://ipcring-example-queue-normal?capacity=8&msg_size=64",
    "shm://ipcring-example-queue-urgent?capacity=8&msg_size=64",
};
static ipcring_t *rings[NRINGS];

static int send_message(int ring, int32_t id, const char *text) {
    struct message m = {.id = id};
    size_t n = strlen(text);
    if (n >= sizeof m.text) {
        fprintf(stderr, "%s: text \"%s\" is too long\n", ex_prog, text);
        return 1;
    }
    memcpy(m.text, text, n);
    int rc = ipcring_send(rings[ring], &m, MESSAGE_HEADER + n, IPCRING_NONBLOCK);
    if (rc != IPCRING_OK) {
        ex_fail("send", addrs[ring], rc);
        return 1;
    }
    return 0;
}

/* Receives one message from `ring` without waiting; returns the ipcring status. */
static int receive_message(int ring, struct message *m) {
    size_t len;
    /* One byte short of the struct: room for the text's NUL (sends keep the text shorter). */
    int rc = ipcring_recv(rings[ring], m, sizeof *m - 1, &len, IPCRING_NONBLOCK);
    if (rc == IPCRING_OK && len < MESSAGE_HEADER) {
        fprintf(stderr, "%s: short message of %zu bytes\n", ex_prog, len);
        return IPCRING_ECORRUPT;
    }
    if (rc == IPCRING_OK) m->text[len - MESSAGE_HEADER] = '\0';
    else if (rc != IPCRING_EAGAIN) ex_fail("receive", addrs[ring], rc);
    return rc;
}

/* mq_receive's order: from the highest priority that has a message; *prio says which. */
static int receive_by_priority(struct message *m, int *prio) {
    for (*prio = URGENT; *prio >= NORMAL; (*prio)--) {
        int rc = receive_message(*prio, m);
        if (rc != IPCRING_EAGAIN) return rc;
    }
    return IPCRING_EAGAIN;
}

/* Part 1: priorities, higher first, until "Terminate". */
static int priorities(void) {
    static const struct { int ring; const char *text; } outbox[] = {
        {NORMAL, "Message 1"}, {URGENT, "Message 2"}, {NORMAL, "Message 3"},
        {URGENT, "Message 4"}, {NORMAL, "Message 5"}, {NORMAL, "Terminate"},
    };
    for (int i = 0; i < (int)(sizeof outbox / sizeof *outbox); i++) {
        if (send_message(outbox[i].ring, i + 1, outbox[i].text) != 0) return 1;
        printf("sent (priority %d): %d %s\n", outbox[i].ring, i + 1, outbox[i].text);
    }
    for (;;) {
        struct message m;
        int prio, rc = receive_by_priority(&m, &prio);
        if (rc == IPCRING_EAGAIN) fprintf(stderr, "%s: queue empty before Terminate\n", ex_prog);
        if (rc != IPCRING_OK) return 1;
        printf("received (priority %d): %d %s\n", prio, (int)m.id, m.text);
        if (strcmp(m.text, "Terminate") == 0) return 0;
    }
}

/* Part 2: System V types; ring NORMAL is type 1, ring URGENT type 2. */
static int types(void) {
    struct message m;
    ipcring_info_t info = IPCRING_INFO_INIT;
    if (send_message(NORMAL, 7, "First of type 1") != 0 || send_message(URGENT, 8, "Only one of type 2") != 0
        || send_message(NORMAL, 9, "Second of type 1") != 0)
        return 1;
    if (receive_message(URGENT, &m) != IPCRING_OK) return 1;
    printf("msgrcv(type 2): %d %s\n", (int)m.id, m.text);
    int rc = ipcring_info(rings[NORMAL], &info);
    if (rc != IPCRING_OK) {
        ex_fail("info", addrs[NORMAL], rc);
        return 1;
    }
    printf("type 1 messages still queued: %d\n", (int)info.queued);
    while ((rc = receive_message(NORMAL, &m)) == IPCRING_OK)
        printf("msgrcv(type 1): %d %s\n", (int)m.id, m.text);
    return rc == IPCRING_EAGAIN ? 0 : 1;
}

int main(int argc, char **argv) {
    ex_init(argv[0]);
    if (argc != 1 && argc != 3) {
        fprintf(stderr, "usage: %s [NORMAL_ADDRESS URGENT_ADDRESS]\n", argv[0]);
        return 2;
    }
    if (argc == 3) {
        addrs[NORMAL] = argv[1];
        addrs[URGENT] = argv[2];
    }
    int status = 1;
    for (int i = 0; i < NRINGS; i++) {
        uint32_t flags = IPCRING_SEND | IPCRING_RECV | IPCRING_CREATE | IPCRING_EXCL; /* both ends */
        int rc = ipcring_open(addrs[i], flags, &rings[i]);
        if (rc != IPCRING_OK) {
            ex_fail("create", addrs[i], rc);
            goto out;
        }
    }
    status = priorities();
    if (status == 0) status = types();
out:
    for (int i = 0; i < NRINGS; i++)
        if (rings[i] != NULL) status |= ex_close(&rings[i]) | ex_unlink(addrs[i]);
    return status;
}
