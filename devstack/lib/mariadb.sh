# MariaDB on 127.0.0.1:3306 for Nova and Neutron (sqlite cannot take their concurrency).

MYSQL_DATA=$DATA_DIR/mysql
MYSQL_RUN=$RUN_DIR/mysqld
MYSQL_CNF=$ETC_DIR/mysql/my.cnf
DAEMON_CONFIGS[mariadb]=$MYSQL_CNF

mysql_() { "${RELEASE_EXEC[@]}" mariadb --defaults-file="$MYSQL_CNF" -uroot "$@"; }

# database_url DB USER: the SQLAlchemy URL services use
database_url() { echo "mysql+pymysql://$2:$DATABASE_PASSWORD@$SERVICE_HOST:$MYSQL_PORT/$1?charset=utf8"; }

configure_mariadb() {
    in_release install -d -o mysql -g mysql -m 750 "$MYSQL_DATA"
    in_release install -d -o mysql -g mysql -m 755 "$MYSQL_RUN"
    install -d -m 755 "$ETC_DIR/mysql"
    write_file "$MYSQL_CNF" 644 <<EOF2 || true
[client]
socket = $MYSQL_RUN/mysqld.sock

[mysqld]
datadir = $MYSQL_DATA
socket = $MYSQL_RUN/mysqld.sock
pid-file = $MYSQL_RUN/mysqld.pid
bind-address = $SERVICE_HOST
port = $MYSQL_PORT
skip-name-resolve
character-set-server = utf8
collation-server = utf8_general_ci
max_connections = 1024
innodb_buffer_pool_size = 128M
innodb_flush_log_at_trx_commit = 2
sql_mode = TRADITIONAL
EOF2
}

init_mariadb_datadir() {
    [ -d "$MYSQL_DATA/mysql" ] && return 0
    log "initialising MariaDB data directory"
    "${RELEASE_EXEC[@]}" mysql_install_db --defaults-file="$MYSQL_CNF" --user=mysql --datadir="$MYSQL_DATA" \
        --skip-test-db --auth-root-authentication-method=socket >>"$LOG_DIR/mariadb.log" 2>&1 ||
        die "mysql_install_db failed (log: $LOG_DIR/mariadb.log)"
}

start_mariadb() {
    ensure_port_free mariadb "$MYSQL_PORT"
    init_mariadb_datadir
    start_daemon mariadb mariadbd "${RELEASE_EXEC[@]}" /usr/sbin/mariadbd --defaults-file="$MYSQL_CNF" --user=mysql
    wait_for_port mariadb "$SERVICE_HOST" "$MYSQL_PORT" 60
    local i
    for ((i = 0; i < 100; i++)); do
        mysql_ -e 'SELECT 1' >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "MariaDB does not answer on $MYSQL_RUN/mysqld.sock (log: $LOG_DIR/mariadb.log)"
}

# create_mysql_db DB USER: database and a user allowed from 127.0.0.1 (idempotent)
create_mysql_db() {
    local db=$1 user=$2
    mysql_ <<EOF2
CREATE DATABASE IF NOT EXISTS \`$db\` CHARACTER SET utf8;
CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$DATABASE_PASSWORD';
CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$DATABASE_PASSWORD';
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$db\`.* TO '$user'@'localhost';
EOF2
}

stop_mariadb() { stop_daemon mariadb 60; }
