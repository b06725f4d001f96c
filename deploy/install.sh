#!/usr/bin/env bash
# Install, update or remove the camera server on Raspberry Pi OS (Bookworm or later).
#
#   sudo deploy/install.sh                 install, or update to this checkout (safe to run again)
#   sudo deploy/install.sh --uninstall     remove it; keeps the captures, database and /etc/camsite/env
#   sudo deploy/install.sh --uninstall --purge     remove those too, and the camsite user
#
# What it sets up (README.md, "Production on a Raspberry Pi", says why):
#   /opt/camsite/app              a copy of this checkout (read-only for the service)
#   /opt/camsite/venv             its virtualenv (requirements.txt)
#   /etc/camsite/env              the settings, from deploy/env.example with a new secret key and AUTH_TOKEN
#   /var/lib/camsite/db           the SQLite database (camsite only)
#   /var/lib/camsite/uploads      the captures (readable by nginx)
#   /run/camsite                  the camera lock (made at boot by /etc/tmpfiles.d/camsite.conf)
#   /run/camsite-preview          the camera owners' sockets (group www-data, so nginx proxies streams)
#   camsite-web.service           gunicorn on 127.0.0.1:3000; camsite-worker.service (the analysis worker)
#   camsite-owner@.service        a camera's owner (live preview); enabled for camera 0
#   /etc/nginx/sites-available/camsite    nginx on port 80 in front of gunicorn
#   /usr/local/bin/camsite-manage         manage.py as camsite, with the service's settings
#
# Options for testing and unusual set-ups:
#   --no-apt          do not install Debian packages
#   --no-systemd      do not touch systemd or nginx (files are still written)
#   --root DIR        install everything under DIR (a throwaway root for tests); implies --no-apt and
#                     --no-systemd, creates no user and changes no ownership; the service user is you
#   --user NAME       the service user (default camsite)
#   --port N          gunicorn's port on 127.0.0.1 for a new env file (default 3000)
#   --python PATH     the Python that builds the virtualenv (default python3, 3.11 or later)
set -euo pipefail

die() {
  echo "install.sh: $*" >&2
  exit 1
}
say() { echo "==> $*"; }

ROOT=""
APT=1
SYSTEMD=1
ACTION=install
PURGE=0
SERVICE_USER=""
PORT=3000
PYTHON=python3
while [ $# -gt 0 ]; do
  case "$1" in
    --no-apt) APT=0 ;;
    --no-systemd) SYSTEMD=0 ;;
    --root)
      [ $# -ge 2 ] || die "--root needs a directory"
      ROOT=$(mkdir -p "$2" && cd "$2" && pwd)
      shift
      ;;
    --user)
      [ $# -ge 2 ] || die "--user needs a name"
      SERVICE_USER=$2
      shift
      ;;
    --port)
      [[ ${2:-} =~ ^[0-9]+$ ]] || die "--port needs a number"
      PORT=$2
      shift
      ;;
    --python)
      [ $# -ge 2 ] || die "--python needs a path"
      PYTHON=$2
      shift
      ;;
    --uninstall) ACTION=uninstall ;;
    --purge) PURGE=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done
[ "$PURGE" = 0 ] || [ "$ACTION" = uninstall ] || die "--purge goes with --uninstall"

# With --root everything lands under ROOT and nothing outside it changes: no packages, no systemd, no users.
MANAGE_USERS=1
if [ -n "$ROOT" ]; then
  APT=0
  SYSTEMD=0
  MANAGE_USERS=0
  SERVICE_USER=${SERVICE_USER:-$(id -un)}
elif [ "$(id -u)" != 0 ]; then
  die "run it as root (sudo), or with --root DIR for a trial installation"
fi
SERVICE_USER=${SERVICE_USER:-camsite}
SERVICE_GROUP=$SERVICE_USER
[ "$MANAGE_USERS" = 1 ] || SERVICE_GROUP=$(id -gn)
# nginx's workers run as www-data; they need to read the captures and nothing else of ours.
WEB_GROUP=www-data

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APP_HOME=$ROOT/opt/camsite
APP=$APP_HOME/app
VENV=$APP_HOME/venv
ETC=$ROOT/etc/camsite
ENV_FILE=$ETC/env
STATE=$ROOT/var/lib/camsite
RUN_DIR=$ROOT/run/camsite
PREVIEW_DIR=$ROOT/run/camsite-preview
UNIT_DIR=$ROOT/etc/systemd/system
TMPFILES=$ROOT/etc/tmpfiles.d/camsite.conf
NGINX=$ROOT/etc/nginx
MANAGE=$ROOT/usr/local/bin/camsite-manage
UNITS=(camsite-web.service camsite-worker.service camsite-owner@.service)
UPSTREAM=127.0.0.1:$PORT

# render SRC DEST MODE: copy a file from deploy/ with this installation's paths, user and gunicorn address.
render() {
  local tmp
  tmp=$(mktemp "$2.XXXXXX")
  sed -e "s#/opt/camsite#${ROOT}/opt/camsite#g" \
    -e "s#/etc/camsite#${ROOT}/etc/camsite#g" \
    -e "s#/var/lib/camsite#${ROOT}/var/lib/camsite#g" \
    -e "s#/run/camsite#${ROOT}/run/camsite#g" \
    -e "s#^User=camsite\$#User=${SERVICE_USER}#" \
    -e "s#^Group=camsite\$#Group=${SERVICE_GROUP}#" \
    -e "s#^service_user=camsite\$#service_user=${SERVICE_USER}#" \
    -e "s#0750 camsite camsite -\$#0750 ${SERVICE_USER} ${SERVICE_GROUP} -#" \
    -e "s#2750 camsite www-data -\$#2750 ${SERVICE_USER} ${WEB_GROUP} -#" \
    -e "s#127\.0\.0\.1:3000#${UPSTREAM}#g" \
    -e "s#^PORT=3000\$#PORT=${PORT}#" \
    "$1" >"$tmp"
  chmod "$3" "$tmp"
  mv -f "$tmp" "$2"
}

# make_dir MODE OWNER:GROUP DIR (ownership only when we manage users)
make_dir() {
  install -d -m "$1" "$3"
  if [ "$MANAGE_USERS" = 1 ]; then chown "$2" "$3"; fi
}

# A value from the env file (the last KEY= line), or empty.
env_value() {
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}

# Run manage.py as the installing user (root) with the service's settings: collectstatic writes into the
# app directory, which the service may not write. The env file is read as systemd reads it.
manage_as_installer() (
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'* | ';'*) continue ;; esac
    export "${line?}"
  done <"$ENV_FILE"
  export DJANGO_SETTINGS_MODULE=camsite.settings
  cd "$APP"
  "$VENV/bin/python" manage.py "$@"
)

systemd_running() { [ "$SYSTEMD" = 1 ] && [ -d /run/systemd/system ]; }

install_packages() {
  say "Debian packages"
  apt-get update -qq
  local packages=(ffmpeg python3-venv nginx)
  # Raspberry Pi OS images come with rpicam-apps (or rpicam-apps-lite on Lite, which has the same commands
  # without the desktop preview): keep whichever is there rather than pulling in the desktop libraries.
  if command -v rpicam-still >/dev/null; then
    :
  elif apt-cache show rpicam-apps >/dev/null 2>&1; then
    packages+=(rpicam-apps)
  else
    echo "    rpicam-apps is not in this system's package sources (not Raspberry Pi OS?): no real camera." >&2
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
}

create_user() {
  if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "user $SERVICE_USER"
    useradd --system --user-group --home-dir /var/lib/camsite --no-create-home \
      --shell /usr/sbin/nologin --comment "camera capture server" "$SERVICE_USER"
  fi
  # The camera devices (/dev/video*, /dev/media*, /dev/dma_heap/*) belong to the video group.
  if getent group video >/dev/null; then usermod -a -G video "$SERVICE_USER"; fi
}

copy_app() {
  say "app in $APP"
  if [ "$SRC" -ef "$APP" ]; then
    return # running the installed copy's own install.sh: nothing to copy
  fi
  local new=$APP.new
  rm -rf "$new"
  mkdir -p "$new"
  # The checkout without its local state (virtualenv, database, captures, secrets, caches).
  tar -C "$SRC" -cf - \
    --exclude=./.git --exclude=./.venv --exclude=./venv --exclude=./uploads --exclude=./staticfiles \
    --exclude='./db.sqlite3*' --exclude=./.secret_key --exclude=./.env --exclude=./test-artifacts \
    --exclude=__pycache__ --exclude='*.pyc' --exclude=.pytest_cache --exclude=.ruff_cache \
    --exclude=./.schemathesis --exclude=./node_modules . | tar -C "$new" -xf -
  rm -rf "$APP.old"
  if [ -d "$APP" ]; then mv "$APP" "$APP.old"; fi
  mv "$new" "$APP"
  rm -rf "$APP.old"
}

build_venv() {
  say "virtualenv in $VENV"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than Python 3.11"
    "$PYTHON" -m venv "$VENV"
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$APP/requirements.txt"
  # The app directory is read-only for the service, so compile now rather than on every start.
  "$VENV/bin/python" -m compileall -q "$APP" >/dev/null
}

make_dirs() {
  make_dir 0755 root:root "$APP_HOME"
  make_dir 0751 "$SERVICE_USER:$SERVICE_GROUP" "$STATE"
  make_dir 0700 "$SERVICE_USER:$SERVICE_GROUP" "$STATE/db"
  # setgid: every capture gets the web group, and the units' UMask=0027 makes it group-readable.
  if [ "$MANAGE_USERS" = 1 ] && getent group "$WEB_GROUP" >/dev/null; then
    make_dir 2750 "$SERVICE_USER:$WEB_GROUP" "$STATE/uploads"
  else
    make_dir 0755 "$SERVICE_USER:$SERVICE_GROUP" "$STATE/uploads"
  fi
  make_dir 0750 "$SERVICE_USER:$SERVICE_GROUP" "$RUN_DIR"
  if [ "$MANAGE_USERS" = 1 ] && getent group "$WEB_GROUP" >/dev/null; then
    make_dir 2750 "$SERVICE_USER:$WEB_GROUP" "$PREVIEW_DIR"
  else
    make_dir 0755 "$SERVICE_USER:$SERVICE_GROUP" "$PREVIEW_DIR"
  fi
  make_dir 0750 "root:$SERVICE_GROUP" "$ETC"
}

# The Host names the server answers to: the Pi's own names and addresses. Not `*`: a server that answers any
# Host can be reached from any web page its user visits, through DNS rebinding.
allowed_hosts() {
  local host ip names
  host=$(hostname)
  names=("$host" "$host.local" localhost 127.0.0.1 "[::1]")
  for ip in $(hostname -I 2>/dev/null); do
    case $ip in
      127.0.0.1 | ::1 | fe80:*) ;; # listed already, or link-local (no use in a Host header)
      *:*) names+=("[$ip]") ;;
      *) names+=("$ip") ;;
    esac
  done
  (
    IFS=,
    echo "${names[*]}"
  )
}

NEW_TOKEN=""
write_env_file() {
  if [ -f "$ENV_FILE" ]; then
    say "keeping $ENV_FILE (its secret key and AUTH_TOKEN are unchanged)"
    if [ "$(env_value DJANGO_ALLOWED_HOSTS)" = "*" ] || ! grep -q '^DJANGO_ALLOWED_HOSTS=.' "$ENV_FILE"; then
      echo "    DJANGO_ALLOWED_HOSTS there accepts any Host (open to DNS rebinding); this Pi's names are:"
      echo "    DJANGO_ALLOWED_HOSTS=$(allowed_hosts)"
    fi
    return
  fi
  say "settings in $ENV_FILE"
  local secret token
  secret=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')
  token=$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
  render "$SRC/deploy/env.example" "$ENV_FILE.tmp" 0640
  sed -i -e "s#^DJANGO_SECRET_KEY=\$#DJANGO_SECRET_KEY=${secret}#" -e "s#^AUTH_TOKEN=\$#AUTH_TOKEN=${token}#" \
    -e "s#^DJANGO_ALLOWED_HOSTS=.*#DJANGO_ALLOWED_HOSTS=$(allowed_hosts)#" "$ENV_FILE.tmp"
  if [ "$MANAGE_USERS" = 1 ]; then chown "root:$SERVICE_GROUP" "$ENV_FILE.tmp"; fi
  mv "$ENV_FILE.tmp" "$ENV_FILE"
  NEW_TOKEN=$token
}

install_files() {
  say "systemd units, nginx site, camsite-manage"
  mkdir -p "$UNIT_DIR" "$(dirname "$TMPFILES")" "$NGINX/sites-available" "$NGINX/sites-enabled" "$(dirname "$MANAGE")"
  # nginx proxies to wherever the env file tells gunicorn to listen.
  UPSTREAM=$(env_value GUNICORN_BIND)
  UPSTREAM=${UPSTREAM:-127.0.0.1:$(env_value PORT)}
  local unit
  for unit in "${UNITS[@]}"; do
    render "$SRC/deploy/systemd/$unit" "$UNIT_DIR/$unit" 0644
  done
  render "$SRC/deploy/systemd/camsite.tmpfiles" "$TMPFILES" 0644
  render "$SRC/deploy/nginx/camsite.conf" "$NGINX/sites-available/camsite" 0644
  ln -sfn "$NGINX/sites-available/camsite" "$NGINX/sites-enabled/camsite"
  # Debian's default site also claims port 80 as default_server; ours replaces it (uninstall restores it).
  if [ -L "$NGINX/sites-enabled/default" ]; then
    rm "$NGINX/sites-enabled/default"
    touch "$ETC/.nginx-default-site-disabled"
  fi
  render "$SRC/deploy/camsite-manage" "$MANAGE" 0755
}

prepare_database() {
  say "database migrations and static files"
  "$MANAGE" migrate --noinput --verbosity 0
  manage_as_installer collectstatic --noinput --verbosity 0
}

has_worker_command() {
  "$MANAGE" help worker >/dev/null 2>&1
}

start_services() {
  if ! systemd_running; then
    say "systemd skipped: nothing started or enabled"
    return
  fi
  say "services"
  systemd-tmpfiles --create "$TMPFILES"
  systemctl daemon-reload
  systemctl enable --quiet camsite-web.service
  systemctl restart camsite-web.service
  if has_worker_command; then
    systemctl enable --quiet camsite-worker.service
    systemctl restart camsite-worker.service
  else
    echo "    camsite-worker.service installed but not enabled: this version has no job worker (manage.py worker)."
    systemctl disable --now --quiet camsite-worker.service 2>/dev/null || true
  fi
  # The live preview of camera 0; a second camera: systemctl enable --now camsite-owner@1.service
  systemctl enable --quiet camsite-owner@0.service
  systemctl restart camsite-owner@0.service
  if command -v nginx >/dev/null; then
    nginx -t -q
    systemctl enable --quiet nginx.service
    systemctl reload-or-restart nginx.service
  fi
}

print_summary() {
  local host ip
  host=$(hostname)
  ip=$(hostname -I 2>/dev/null | awk '{print $1}')
  echo
  say "done"
  echo "    Status:   curl -H \"Authorization: Bearer \$AUTH_TOKEN\" http://$host.local/api/camera/status"
  echo "    Web:      http://$host.local/  ${ip:+or http://$ip/}"
  echo "    Admin:    http://$host.local/admin/  (first: sudo camsite-manage createsuperuser)"
  echo "    Capture:  sudo camsite-manage capture --format jpg"
  echo "    Check:    sudo camsite-manage camera_status; sudo camsite-manage smoke_test"
  echo "    Logs:     journalctl -u camsite-web -f"
  if [ -n "$NEW_TOKEN" ]; then
    echo
    echo "    AUTH_TOKEN (shown this once; it is also in $ENV_FILE):"
    echo "    $NEW_TOKEN"
  fi
}

uninstall() {
  if systemd_running; then
    say "stopping services"
    systemctl disable --now --quiet camsite-web.service camsite-worker.service 'camsite-owner@*.service' \
      2>/dev/null || true
  fi
  say "removing the app, virtualenv, units, nginx site and camsite-manage"
  local unit
  for unit in "${UNITS[@]}"; do rm -f "$UNIT_DIR/$unit"; done
  rm -f "$TMPFILES" "$NGINX/sites-enabled/camsite" "$NGINX/sites-available/camsite" "$MANAGE"
  if [ -f "$ETC/.nginx-default-site-disabled" ]; then
    if [ -e "$NGINX/sites-available/default" ]; then
      ln -sfn "$NGINX/sites-available/default" "$NGINX/sites-enabled/default"
    fi
    rm -f "$ETC/.nginx-default-site-disabled"
  fi
  rm -rf "$APP_HOME" "$RUN_DIR" "$PREVIEW_DIR"
  if systemd_running; then
    systemctl daemon-reload
    if command -v nginx >/dev/null && nginx -t -q 2>/dev/null; then systemctl reload nginx.service || true; fi
  fi
  if [ "$PURGE" = 1 ]; then
    say "purging the captures, the database and $ETC"
    rm -rf "$STATE" "$ETC"
    if [ "$MANAGE_USERS" = 1 ] && id -u "$SERVICE_USER" >/dev/null 2>&1; then userdel "$SERVICE_USER"; fi
  else
    say "kept: captures and database in $STATE, settings in $ETC (--uninstall --purge removes them)"
  fi
}

if [ "$ACTION" = uninstall ]; then
  uninstall
  exit 0
fi
if [ "$APT" = 1 ]; then install_packages; fi
if [ "$MANAGE_USERS" = 1 ]; then create_user; fi
make_dirs
copy_app
build_venv
write_env_file
install_files
prepare_database
start_services
print_summary
