#!/usr/bin/env node
// ONNX Runtime reference runner for `make bench` and scripts/make-vectors.sh.
// A dev-only tool: the product never links or ships ONNX Runtime.
//
//   node run.js bench MODEL.onnx --input F.pb... [--threads T] [--iters N] [--warmup W]
//       prints `median_ms=... min_ms=...` (the same line `eml run --local --bench N` prints)
//   node run.js run MODEL.onnx --input F.pb... --output-dir DIR [--threads T]
//       writes DIR/output_<i>.pb, one ONNX TensorProto per graph output, in graph order
//   node run.js version
//
// Inputs are ONNX TensorProto .pb files (the ONNX test-data format). They are
// matched to the model's inputs by the tensor's name when it has one that the
// model declares, otherwise by position.
'use strict';

const fs = require('fs');
const path = require('path');

// ------------------------------------------------------------ TensorProto

// onnx.proto field numbers and TensorProto.DataType values (ONNX IR spec).
const F_DIMS = 1, F_DATA_TYPE = 2, F_FLOAT_DATA = 4, F_INT32_DATA = 5,
	F_INT64_DATA = 7, F_NAME = 8, F_RAW_DATA = 9, F_DOUBLE_DATA = 10,
	F_EXTERNAL_DATA = 13, F_DATA_LOCATION = 14;

const DTYPES = {
	1: { ort: 'float32', size: 4, Arr: Float32Array },
	2: { ort: 'uint8', size: 1, Arr: Uint8Array },
	3: { ort: 'int8', size: 1, Arr: Int8Array },
	6: { ort: 'int32', size: 4, Arr: Int32Array },
	7: { ort: 'int64', size: 8, Arr: BigInt64Array },
	9: { ort: 'bool', size: 1, Arr: Uint8Array },
	10: { ort: 'float16', size: 2, Arr: Uint16Array }, // IEEE half bits
	11: { ort: 'float64', size: 8, Arr: Float64Array },
};
const ORT_TO_ONNX = {};
for (const [k, v] of Object.entries(DTYPES)) ORT_TO_ONNX[v.ort] = Number(k);

function fail(msg) {
	process.stderr.write('ort/run.js: ' + msg + '\n');
	process.exit(2);
}

// A bounded protobuf reader: every read checks the bytes left first.
class Reader {
	constructor(buf, what) {
		this.buf = buf;
		this.pos = 0;
		this.what = what;
	}
	left() { return this.buf.length - this.pos; }
	varint() {
		let v = 0n, shift = 0n;
		for (let i = 0; i < 10; i++) {
			if (this.pos >= this.buf.length) fail(this.what + ': truncated varint');
			const b = this.buf[this.pos++];
			v |= BigInt(b & 0x7f) << shift;
			if (!(b & 0x80)) return v & 0xffffffffffffffffn;
			shift += 7n;
		}
		fail(this.what + ': varint longer than 10 bytes');
	}
	small() {
		const v = this.varint();
		if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(this.what + ': value too large');
		return Number(v);
	}
	bytes(n) {
		if (n > this.left()) fail(this.what + ': field runs past the end');
		const b = this.buf.subarray(this.pos, this.pos + n);
		this.pos += n;
		return b;
	}
	skip(wt) {
		if (wt === 0) this.varint();
		else if (wt === 1) this.bytes(8);
		else if (wt === 2) this.bytes(this.small());
		else if (wt === 5) this.bytes(4);
		else fail(this.what + ': unsupported wire type ' + wt);
	}
}

// Copy little-endian elements of a packed/raw byte run into a typed array.
function fromBytes(b, dt, what) {
	if (b.length % dt.size) fail(what + ': raw data not a multiple of the element size');
	const copy = new Uint8Array(b); // aligned copy
	return new dt.Arr(copy.buffer, 0, b.length / dt.size);
}

function parseTensor(buf, what) {
	const r = new Reader(buf, what);
	const dims = [];
	let dataType = 0, name = '', raw = null;
	const floats = [], ints = [], int64s = [], doubles = [];
	while (r.left() > 0) {
		const key = r.small();
		const field = Math.floor(key / 8), wt = key % 8;
		if (field === F_DIMS && wt === 0) dims.push(r.varint());
		else if (field === F_DIMS && wt === 2) {
			const sub = new Reader(r.bytes(r.small()), what);
			while (sub.left() > 0) dims.push(sub.varint());
		} else if (field === F_DATA_TYPE && wt === 0) dataType = r.small();
		else if (field === F_NAME && wt === 2) name = Buffer.from(r.bytes(r.small())).toString('utf8');
		else if (field === F_RAW_DATA && wt === 2) raw = r.bytes(r.small());
		else if (field === F_FLOAT_DATA && wt === 2) floats.push(r.bytes(r.small()));
		else if (field === F_FLOAT_DATA && wt === 5) floats.push(r.bytes(4));
		else if (field === F_DOUBLE_DATA && wt === 2) doubles.push(r.bytes(r.small()));
		else if (field === F_DOUBLE_DATA && wt === 1) doubles.push(r.bytes(8));
		else if (field === F_INT32_DATA || field === F_INT64_DATA) {
			const list = field === F_INT32_DATA ? ints : int64s;
			if (wt === 0) list.push(r.varint());
			else if (wt === 2) {
				const sub = new Reader(r.bytes(r.small()), what);
				while (sub.left() > 0) list.push(sub.varint());
			} else fail(what + ': bad wire type for int data');
		} else if (field === F_EXTERNAL_DATA || field === F_DATA_LOCATION) {
			fail(what + ': external data is not supported');
		} else r.skip(wt);
	}
	const dt = DTYPES[dataType];
	if (!dt) fail(what + ': unsupported data_type ' + dataType);
	// dims are int64 on the wire; a negative dimension is invalid in a tensor.
	const shape = dims.map((d) => {
		if (d >= 1n << 63n) fail(what + ': negative dimension');
		if (d > 1n << 31n) fail(what + ': dimension too large');
		return Number(d);
	});
	const count = shape.reduce((a, b) => a * b, 1);
	let data;
	if (raw) data = fromBytes(raw, dt, what);
	else if (dataType === 1) data = fromBytes(Buffer.concat(floats), dt, what);
	else if (dataType === 11) data = fromBytes(Buffer.concat(doubles), dt, what);
	else if (dataType === 7) data = BigInt64Array.from(int64s, (v) => BigInt.asIntN(64, v));
	else data = dt.Arr.from(ints, (v) => Number(BigInt.asIntN(32, v)));
	if (data.length !== count) {
		fail(`${what}: ${data.length} elements for shape [${shape}] (${count})`);
	}
	return { name, type: dt.ort, shape, data };
}

function putVarint(out, v) {
	let x = BigInt(v);
	do {
		let b = Number(x & 0x7fn);
		x >>= 7n;
		if (x) b |= 0x80;
		out.push(b);
	} while (x);
}

function putKey(out, field, wt) { putVarint(out, field * 8 + wt); }

function encodeTensor(name, tensor) {
	const dataType = ORT_TO_ONNX[tensor.type];
	if (!dataType) fail('output ' + name + ': unsupported type ' + tensor.type);
	const head = [];
	for (const d of tensor.dims) { putKey(head, F_DIMS, 0); putVarint(head, d); }
	putKey(head, F_DATA_TYPE, 0); putVarint(head, dataType);
	const nameBytes = Buffer.from(name, 'utf8');
	putKey(head, F_NAME, 2); putVarint(head, nameBytes.length);
	const d = tensor.data;
	const raw = Buffer.from(d.buffer, d.byteOffset, d.byteLength); // host is little-endian
	const rawHead = [];
	putKey(rawHead, F_RAW_DATA, 2); putVarint(rawHead, raw.length);
	return Buffer.concat([Buffer.from(head), nameBytes, Buffer.from(rawHead), raw]);
}

// ------------------------------------------------------------ command line

function parseArgs(argv) {
	const a = { mode: argv[0], model: argv[1], inputs: [], threads: 1, iters: 20, warmup: 3, outDir: null };
	for (let i = 2; i < argv.length; i++) {
		const k = argv[i];
		const val = () => {
			if (i + 1 >= argv.length) fail(k + ' needs a value');
			return argv[++i];
		};
		const num = (lo) => {
			const s = val();
			if (!/^[0-9]+$/.test(s) || Number(s) < lo) fail(`${k}: expected an integer >= ${lo}, got ${s}`);
			return Number(s);
		};
		if (k === '--input') {
			a.inputs.push(val());
			while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) a.inputs.push(argv[++i]);
		} else if (k === '--threads') a.threads = num(1);
		else if (k === '--iters') a.iters = num(1);
		else if (k === '--warmup') a.warmup = num(0);
		else if (k === '--output-dir') a.outDir = val();
		else fail('unknown option ' + k);
	}
	return a;
}

function usage() {
	process.stderr.write(
		'usage: run.js bench MODEL --input F.pb... [--threads T] [--iters N] [--warmup W]\n' +
		'       run.js run MODEL --input F.pb... --output-dir DIR [--threads T]\n' +
		'       run.js version\n');
	process.exit(2);
}

async function main() {
	// TensorProto raw_data is little-endian; the typed arrays use host order.
	if (require('os').endianness() !== 'LE') fail('big-endian hosts are not supported');
	const argv = process.argv.slice(2);
	if (argv[0] === 'version') {
		const ort = require('onnxruntime-node');
		process.stdout.write('onnxruntime-node ' + ort.env.versions.node + '\n');
		return;
	}
	if (argv.length < 2 || (argv[0] !== 'bench' && argv[0] !== 'run')) usage();
	const a = parseArgs(argv);
	if (a.inputs.length === 0) fail('at least one --input is needed');
	if (a.mode === 'run' && !a.outDir) fail('run needs --output-dir');

	const ort = require('onnxruntime-node');
	const session = await ort.InferenceSession.create(a.model, {
		executionProviders: ['cpu'],
		intraOpNumThreads: a.threads,
		interOpNumThreads: 1,
		executionMode: 'sequential',
		graphOptimizationLevel: 'all',
	});

	const feeds = {};
	a.inputs.forEach((file, i) => {
		const t = parseTensor(fs.readFileSync(file), file);
		let name = session.inputNames.includes(t.name) ? t.name : session.inputNames[i];
		if (name === undefined) fail(`${file}: the model has only ${session.inputNames.length} inputs`);
		if (feeds[name]) fail(`${file}: input ${name} given twice`);
		feeds[name] = new ort.Tensor(t.type, t.data, t.shape);
	});
	for (const n of session.inputNames) if (!feeds[n]) fail('no value for model input ' + n);

	if (a.mode === 'run') {
		const out = await session.run(feeds);
		fs.mkdirSync(a.outDir, { recursive: true });
		session.outputNames.forEach((n, i) => {
			fs.writeFileSync(path.join(a.outDir, `output_${i}.pb`), encodeTensor(n, out[n]));
		});
		return;
	}

	for (let i = 0; i < a.warmup; i++) await session.run(feeds);
	const ms = [];
	for (let i = 0; i < a.iters; i++) {
		const t0 = process.hrtime.bigint();
		await session.run(feeds);
		ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
	}
	ms.sort((x, y) => x - y);
	const mid = ms.length >> 1;
	const median = ms.length % 2 ? ms[mid] : (ms[mid - 1] + ms[mid]) / 2;
	process.stdout.write(`median_ms=${median.toFixed(3)} min_ms=${ms[0].toFixed(3)}\n`);
}

main().catch((e) => fail(e && e.message ? e.message : String(e)));
