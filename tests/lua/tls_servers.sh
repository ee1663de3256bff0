#!/usr/bin/env bash
# TLS servers for tests/lua/test_tls*.lua, on free loopback ports, with all
# state (certificates made by the openssl CLI, configs, logs) in DIR; stops
# only the processes it started (by their recorded PIDs).
#
#   tests/lua/tls_servers.sh start DIR     # writes DIR/env (NAME=value lines)
#   tests/lua/tls_servers.sh stop DIR
#
# DIR/env: CA, SERVER_CERT, SERVER_KEY, CLIENT_CERT, CLIENT_KEY (PEM files),
# HTTPS_PORT (nginx: TLS 1.2/1.3, keepalive; "/" answers
# "hello <protocol> <reused> <sni>"), MTLS_PORT (nginx, ssl_verify_client
# optional; "/" answers "client <verify> <subject>"), REDIS_TLS_PORT
# (redis-server with --tls-port, client certificates optional), and
# MISSING="what" for what could not be started.
set -u
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

if [ "$cmd" = stop ]; then
    [ -f "$dir/pids" ] || exit 0
    while read -r pid; do
        kill "$pid" 2>/dev/null
    done <"$dir/pids"
    rm -f "$dir/pids"
    exit 0
fi

mkdir -p "$dir/tmp" || exit 1
: >"$dir/env"
: >"$dir/pids"
missing=""

free_port() {
    # Below the ephemeral range; a port that refuses connections now.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        p=$(( 20000 + $(od -An -N2 -tu2 /dev/urandom) % 12000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

wait_port() { # pid port
    for _ in $(seq 1 200); do
        kill -0 "$1" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}


certs() {
    cd "$dir" || return 1
    ossl() { openssl "$@" >>"$dir/openssl.log" 2>&1; }
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout ca.key -out ca.pem -days 3650 -subj "/CN=cosocket test CA" || return 1
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout server.key -out server.csr -subj "/CN=localhost" || return 1
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
    ossl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out server.pem -days 3650 -extfile server.ext || return 1
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout clientca.key -out clientca.pem -days 3650 -subj "/CN=cosocket client CA" || return 1
    ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout client.key -out client.csr -subj "/CN=cosocket client" || return 1
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    ossl x509 -req -in client.csr -CA clientca.pem -CAkey clientca.key -CAcreateserial \
        -out client.pem -days 3650 -extfile client.ext || return 1
    cd - >/dev/null || return 1
}

if ! command -v openssl >/dev/null || ! certs; then
    echo "MISSING=openssl" >>"$dir/env"
    exit 1
fi
{
    echo "CA=$dir/ca.pem"
    echo "SERVER_CERT=$dir/server.pem"
    echo "SERVER_KEY=$dir/server.key"
    echo "CLIENT_CERT=$dir/client.pem"
    echo "CLIENT_KEY=$dir/client.key"
} >>"$dir/env"

start_nginx() {
    command -v nginx >/dev/null || { missing="$missing nginx"; return; }
    for _ in 1 2 3; do
        p1=$(free_port) && p2=$(free_port) || break
        cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 10000;
    keepalive_timeout 60s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $dir/server.pem;
    ssl_certificate_key $dir/server.key;
    server {
        listen 127.0.0.1:$p1 ssl;
        location / { return 200 "hello \$ssl_protocol \$ssl_session_reused \$ssl_server_name\n"; }
        location /big { return 200 "\$request_uri\$request_uri\$request_uri\$request_uri\n"; }
    }
    server {
        listen 127.0.0.1:$p2 ssl;
        ssl_client_certificate $dir/clientca.pem;
        ssl_verify_client optional;
        location / { return 200 "client \$ssl_client_verify \$ssl_client_s_dn\n"; }
    }
}
EOF
        nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log" >>"$dir/nginx.out" 2>&1 &
        pid=$!
        if wait_port "$pid" "$p1" && wait_port "$pid" "$p2"; then
            echo "$pid" >>"$dir/pids"
            echo "HTTPS_PORT=$p1" >>"$dir/env"
            echo "MTLS_PORT=$p2" >>"$dir/env"
            return
        fi
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    missing="$missing nginx"
}

start_redis() {
    command -v redis-server >/dev/null || { missing="$missing redis"; return; }
    for _ in 1 2 3; do
        p=$(free_port) || break
        redis-server --port 0 --tls-port "$p" --bind 127.0.0.1 \
            --tls-cert-file "$dir/server.pem" --tls-key-file "$dir/server.key" \
            --tls-ca-cert-file "$dir/clientca.pem" --tls-auth-clients optional \
            --save "" --appendonly no --dir "$dir" >>"$dir/redis.log" 2>&1 &
        pid=$!
        if wait_port "$pid" "$p"; then
            echo "$pid" >>"$dir/pids"
            echo "REDIS_TLS_PORT=$p" >>"$dir/env"
            return
        fi
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    missing="$missing redis"
}

start_nginx
start_redis
if [ -n "$missing" ]; then
    echo "MISSING=${missing# }" >>"$dir/env"
    exit 1
fi
exit 0
