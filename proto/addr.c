/*
 * addr.c - numeric socket addresses as they appear in configuration and
 * messages: "192.0.2.1:862", "[2001:db8::1]:862", "*:862" or a bare address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static int parse_port(const char *s, uint16_t *port)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0 || v > 65535)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* Splits s into a host part (copied into host) and an optional port string. */
static int split_host_port(const char *s, char *host, size_t hostlen, const char **port)
{
    const char *end;
    size_t n;

    *port = NULL;
    if (s[0] == '[') {
        end = strchr(s, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':'))
            return -EINVAL;
        n = (size_t)(end - s - 1);
        if (end[1] == ':')
            *port = end + 2;
        s++;
    } else {
        end = strrchr(s, ':');
        /* More than one colon without brackets is a bare IPv6 address. */
        if (end != NULL && strchr(s, ':') == end) {
            n = (size_t)(end - s);
            *port = end + 1;
        } else {
            n = strlen(s);
        }
    }
    if (n == 0 || n >= hostlen)
        return -EINVAL;
    memcpy(host, s, n);
    host[n] = '\0';
    return 0;
}

int proto_addr_parse(const char *s, uint16_t default_port, struct sockaddr_storage *ss,
                     socklen_t *len)
{
    char host[INET6_ADDRSTRLEN];
    const char *portstr;
    uint16_t port = default_port;
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    if (split_host_port(s, host, sizeof(host), &portstr) < 0)
        return -EINVAL;
    if (portstr != NULL && parse_port(portstr, &port) < 0)
        return -EINVAL;
    memset(ss, 0, sizeof(*ss));
    if (strcmp(host, "*") == 0)
        strcpy(host, "::");
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return 0;
    }
    return -EINVAL;
}

int proto_addr_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
    const void *a;

    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    else
        return -EAFNOSUPPORT;
    return inet_ntop(sa->sa_family, a, buf, (socklen_t)len) ? 0 : -ENOBUFS;
}

uint16_t proto_addr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    return 0;
}
