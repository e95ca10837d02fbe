#!/usr/bin/env bash
# The enclave image, without Docker or nitro-cli (`make eif`; docs/DEPLOY.md).
#
# Inputs (environment):
#   KERNEL        required: the enclave kernel (nitro-cli's blobs: bzImage
#                 on x86_64, Image on aarch64)
#   CMDLINE       kernel command line (default: nitro-cli's x86_64 blob
#                 cmdline, the bytes of its `cmdline` file without the
#                 trailing newline)
#   NSM_KO        optional: nitro-cli's nsm.ko, for kernels whose NSM driver
#                 is a module (the 4.14 blob kernel); loaded by eml-init
#   AGENT_POLICY  optional: the agent policy baked into the image (its
#                 digest goes into every attestation's user_data)
#   AGENT_PORT    vsock port the agent listens on (default 5000)
#   AGENT_ARGS    more agent options, space-separated (default
#                 "--threads 2 --max-sessions 16": sized for the 2 vCPUs and
#                 1-2 GiB of a small enclave; measured in PCR2 like the rest)
#   AGENT         the agent binary (default $OUT/eml-agent, made by make)
#   ARCH          x86_64 (default) or aarch64
#   SOURCE_DATE_EPOCH  the metadata's BuildTime (default 0); nothing else
#                 in the image depends on time
#   EML, OUT      the eml binary and the output folder (set by make)
#
# Two ramdisks, as nitro-cli lays them out: ramdisk 0 (PCR1 with the
# kernel and cmdline) holds eml-init, /dev/console and the optional
# nsm.ko; ramdisk 1 (PCR2) holds the agent, its arguments and policy.
# The PCRs are predicted from the inputs first (measurements.json), the
# image is written, then read back, and the two must agree.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "make eif: $*" >&2; exit 2; }

: "${EML:=build/bin/eml}"
: "${OUT:=build/eif}"
: "${AGENT_PORT:=5000}"
: "${ARCH:=x86_64}"
[ -n "${AGENT:-}" ] || AGENT="$OUT/eml-agent"
DEFAULT_CMDLINE="reboot=k panic=30 pci=off nomodules console=ttyS0 i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd random.trust_cpu=on"
[ -n "${CMDLINE:-}" ] || CMDLINE=$DEFAULT_CMDLINE
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

[ -n "${KERNEL:-}" ] || die "KERNEL=FILE is required (nitro-cli's blobs: /usr/share/nitro_enclaves/blobs/bzImage)"
[ -f "$KERNEL" ] || die "KERNEL: no such file: $KERNEL"
[ -x "$EML" ] || die "$EML missing (make all)"
[ -f "$AGENT" ] || die "agent binary missing: $AGENT"
[ -f "$OUT/eml-init" ] || die "$OUT/eml-init missing"
[ -z "${NSM_KO:-}" ] || [ -f "$NSM_KO" ] || die "NSM_KO: no such file: $NSM_KO"
[ -z "${AGENT_POLICY:-}" ] || [ -f "$AGENT_POLICY" ] || die "AGENT_POLICY: no such file: $AGENT_POLICY"
case "$AGENT_PORT" in '' | *[!0-9]*) die "AGENT_PORT: a number" ;; esac
case "$CMDLINE" in *$'\n'*) die "CMDLINE: one line" ;; esac

start=$(date +%s%N)
stage="$OUT/stage"
rm -rf "$stage"
mkdir -p "$stage"

# The agent's command line, one argument per line (eif-build/init/eml_init.c).
{
	printf '/eml-agent\n--listen\nvsock:4294967295:%s\n--attest\nnsm\n' "$AGENT_PORT"
	if [ -n "${AGENT_POLICY:-}" ]; then printf -- '--policy\n/etc/eml/agent-policy.json\n'; fi
	# Word-split on purpose: one argument per line.
	agent_args=${AGENT_ARGS-"--threads 2 --max-sessions 16"}
	for arg in $agent_args; do printf '%s\n' "$arg"; done
} >"$stage/agent.cmd"
printf 'PATH=/\nEML_LOG_LEVEL=info\n' >"$stage/agent.env"

boot=(--dir dev --char dev/console=5:1 --dir proc --dir sys --file init="$OUT/eml-init")
[ -z "${NSM_KO:-}" ] || boot+=(--file nsm.ko="$NSM_KO")
"$EML" image ramdisk --out "$stage/bootstrap.cpio" "${boot[@]}"

app=(--dir etc --dir etc/eml --file eml-agent="$AGENT" --file etc/eml/agent.cmd="$stage/agent.cmd"
	--file etc/eml/agent.env="$stage/agent.env")
[ -z "${AGENT_POLICY:-}" ] || app+=(--file etc/eml/agent-policy.json="$AGENT_POLICY")
# A dynamically linked agent brings its loader and libraries, at the paths
# its ELF header and the loader's default search path name.
if ldd "$AGENT" >/dev/null 2>&1; then
	linkage=dynamic
	dirs=()
	while read -r lib; do
		[ -n "$lib" ] || continue
		d=$(dirname "${lib#/}")
		# Each parent once, shallow first.
		p=""
		IFS=/ read -ra parts <<<"$d"
		for part in "${parts[@]}"; do
			p=${p:+$p/}$part
			case " ${dirs[*]:-} " in *" $p "*) ;; *) dirs+=("$p"); app+=(--dir "$p") ;; esac
		done
		app+=(--file "${lib#/}=$(readlink -f "$lib")")
	done < <(ldd "$AGENT" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
else
	linkage=static
fi
"$EML" image ramdisk --out "$stage/app.cpio" "${app[@]}"

# 1. Predict from the inputs alone.
"$EML" image measure --kernel "$KERNEL" --cmdline "$CMDLINE" \
	--ramdisk "$stage/bootstrap.cpio" --ramdisk "$stage/app.cpio" --json >"$OUT/measurements.json"
# 2. Write the image.
version=$(git rev-parse --short=12 HEAD 2>/dev/null || echo 0)
"$EML" image build --kernel "$KERNEL" --cmdline "$CMDLINE" \
	--ramdisk "$stage/bootstrap.cpio" --ramdisk "$stage/app.cpio" --arch "$ARCH" \
	--name eml-agent --image-version "$version" --out "$OUT/eml-agent.eif" >"$stage/built.json"
# 3. Read it back: the file's PCRs must be the predicted ones.
"$EML" image measure "$OUT/eml-agent.eif" --json >"$stage/described.json"
"$EML" image measure --kernel "$KERNEL" --cmdline "$CMDLINE" \
	--ramdisk "$stage/bootstrap.cpio" --ramdisk "$stage/app.cpio" >"$stage/predicted.txt"
"$EML" image measure "$OUT/eml-agent.eif" | grep '^PCR' >"$stage/measured.txt"
cmp -s "$stage/predicted.txt" "$stage/measured.txt" ||
	{ diff "$stage/predicted.txt" "$stage/measured.txt" >&2; die "measured PCRs differ from the prediction"; }
end=$(date +%s%N)

size=$(stat -c %s "$OUT/eml-agent.eif")
echo "make eif: $OUT/eml-agent.eif ($size bytes, agent $linkage, sha256 $(sha256sum "$OUT/eml-agent.eif" | cut -c1-16)..., $(((end - start) / 1000000)) ms)" >&2
echo "make eif: measured PCRs equal the prediction in $OUT/measurements.json" >&2
cat "$stage/measured.txt" >&2
