//! Decoding and encoding speed of bitswarm-bencode beside the other Rust
//! bencode crates, each into its own generic value type, in the same run:
//!
//! ```text
//! cargo bench -p bitswarm-bencode --bench decode_encode
//! ```
//!
//! On a machine that other work shares, time the benchmarking thread's CPU
//! time instead of wall time (other processes' turns on the core then do not
//! count): `BENCH_CLOCK=thread-cpu cargo bench ...`. `scripts/bench-table`
//! prints the results as the README's tables.
//!
//! Every crate first decodes the whole corpus and must re-encode it to the
//! same bytes, so that all of them are timed doing the same, complete work.
//! Each decode is timed with the drop of the value it returns. `cargo test
//! -p bitswarm-bencode --benches` runs that check and each benchmark once,
//! quickly.

#![allow(missing_docs)]

mod corpus;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BenchmarkGroup, Criterion, Throughput};

/// One bencode implementation: how it decodes into its generic value type
/// and encodes that value back.
trait Contender {
    const NAME: &'static str;
    type Value<'a>;
    fn decode(input: &[u8]) -> Self::Value<'_>;
    fn encode(value: &Self::Value<'_>) -> Vec<u8>;
}

/// bitswarm-bencode: `Value<'a>`, borrowing byte strings from the input.
struct Bitswarm;
impl Contender for Bitswarm {
    const NAME: &'static str = "bitswarm-bencode";
    type Value<'a> = bitswarm_bencode::Value<'a>;
    fn decode(input: &[u8]) -> Self::Value<'_> {
        bitswarm_bencode::decode(input).expect("bitswarm-bencode decodes the corpus")
    }
    fn encode(value: &Self::Value<'_>) -> Vec<u8> {
        bitswarm_bencode::Encode::to_bencode(value)
    }
}

/// serde_bencode: `serde_bencode::value::Value` (owned bytes, `HashMap` dictionaries).
struct SerdeBencode;
impl Contender for SerdeBencode {
    const NAME: &'static str = "serde_bencode";
    type Value<'a> = serde_bencode::value::Value;
    fn decode(input: &[u8]) -> Self::Value<'_> {
        serde_bencode::from_bytes(input).expect("serde_bencode decodes the corpus")
    }
    fn encode(value: &Self::Value<'_>) -> Vec<u8> {
        serde_bencode::to_bytes(value).expect("serde_bencode encodes")
    }
}

/// bendy: `bendy::value::Value<'a>` through its own `FromBencode` decoder
/// (which copies byte strings). `Value::from_bencode` and
/// `Value::to_bencode` ask for a nesting limit of 0 and so reject any list
/// or dictionary; the limit here is ours (64).
struct Bendy;
impl Contender for Bendy {
    const NAME: &'static str = "bendy";
    type Value<'a> = bendy::value::Value<'a>;
    fn decode(input: &[u8]) -> Self::Value<'_> {
        use bendy::decoding::{Decoder, FromBencode};
        let mut decoder = Decoder::new(input).with_max_depth(64);
        let object = decoder
            .next_object()
            .expect("bendy decodes the corpus")
            .expect("one object");
        bendy::value::Value::decode_bencode_object(object).expect("bendy decodes the corpus")
    }
    fn encode(value: &Self::Value<'_>) -> Vec<u8> {
        let mut encoder = bendy::encoding::Encoder::new().with_max_depth(64);
        encoder.emit(value).expect("bendy encodes");
        encoder.get_output().expect("bendy encodes")
    }
}

/// bt_bencode: `bt_bencode::Value` (owned `ByteString`, `BTreeMap` dictionaries).
struct BtBencode;
impl Contender for BtBencode {
    const NAME: &'static str = "bt_bencode";
    type Value<'a> = bt_bencode::Value;
    fn decode(input: &[u8]) -> Self::Value<'_> {
        bt_bencode::from_slice(input).expect("bt_bencode decodes the corpus")
    }
    fn encode(value: &Self::Value<'_>) -> Vec<u8> {
        bt_bencode::to_vec(value).expect("bt_bencode encodes")
    }
}

/// lava_torrent: `lava_torrent::bencode::BencodeElem` (owned `String`s or
/// bytes, `HashMap` dictionaries).
struct LavaTorrent;
impl Contender for LavaTorrent {
    const NAME: &'static str = "lava_torrent";
    type Value<'a> = lava_torrent::bencode::BencodeElem;
    fn decode(input: &[u8]) -> Self::Value<'_> {
        let mut elems = lava_torrent::bencode::BencodeElem::from_bytes(input)
            .expect("lava_torrent decodes the corpus");
        assert_eq!(elems.len(), 1, "lava_torrent: one value");
        elems.pop().expect("one value")
    }
    fn encode(value: &Self::Value<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        value.write_into(&mut out).expect("lava_torrent encodes");
        out
    }
}

/// What one benchmark group times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Decode,
    Encode,
}

/// Times `op` on `inputs` (one timed iteration handles all of them) with
/// contender `C`, after checking that it round-trips them exactly.
fn bench_one<C: Contender, M: Measurement>(
    group: &mut BenchmarkGroup<'_, M>,
    op: Op,
    inputs: &[Vec<u8>],
) {
    let values: Vec<C::Value<'_>> = inputs.iter().map(|i| C::decode(i)).collect();
    for (input, value) in inputs.iter().zip(&values) {
        assert!(
            C::encode(value) == *input,
            "{} does not re-encode the corpus to the same bytes",
            C::NAME
        );
    }
    match op {
        Op::Decode => {
            // Nothing of this check stays on the heap while decoding is timed.
            drop(values);
            group.bench_function(C::NAME, |b| {
                b.iter(|| {
                    for input in inputs {
                        black_box(C::decode(black_box(input)));
                    }
                });
            });
        }
        Op::Encode => {
            group.bench_function(C::NAME, |b| {
                b.iter(|| {
                    for value in &values {
                        black_box(C::encode(black_box(value)));
                    }
                });
            });
        }
    }
}

fn bench_corpus<M: Measurement>(c: &mut Criterion<M>, name: &str, inputs: &[Vec<u8>]) {
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    for (op, op_name) in [(Op::Decode, "decode"), (Op::Encode, "encode")] {
        let mut group = c.benchmark_group(format!("{op_name}/{name}"));
        group.throughput(Throughput::Bytes(bytes as u64));
        bench_one::<Bitswarm, M>(&mut group, op, inputs);
        bench_one::<SerdeBencode, M>(&mut group, op, inputs);
        bench_one::<Bendy, M>(&mut group, op, inputs);
        bench_one::<BtBencode, M>(&mut group, op, inputs);
        bench_one::<LavaTorrent, M>(&mut group, op, inputs);
        group.finish();
    }
}

fn run<M: Measurement>(c: &mut Criterion<M>) {
    bench_corpus(
        c,
        "multi-file-torrent",
        &[corpus::multi_file_torrent(5_000)],
    );
    bench_corpus(
        c,
        "single-file-torrent",
        &[corpus::single_file_torrent(1 << 20)],
    );
    bench_corpus(c, "dht-messages", &corpus::dht_messages(1_000));
}

/// The CPU time of the benchmarking thread: unlike wall time, it does not
/// count the time other processes had the core, so runs on a shared machine
/// still compare.
struct ThreadCpuTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }
    fn end(&self, started: Self::Intermediate) -> Self::Value {
        started.elapsed()
    }
    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value {
        *a + *b
    }
    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

/// Shows nanosecond values as criterion shows wall time.
struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (divisor, unit) = match typical {
            t if t < 1e3 => (1.0, "ns"),
            t if t < 1e6 => (1e3, "µs"),
            t if t < 1e9 => (1e6, "ms"),
            _ => (1e9, "s"),
        };
        values.iter_mut().for_each(|v| *v /= divisor);
        unit
    }

    fn scale_throughputs(
        &self,
        _typical: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let (per_run, unit) = match *throughput {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n as f64 / 1048576.0, "MiB/s"),
            Throughput::Elements(n) => (n as f64, "elem/s"),
        };
        values.iter_mut().for_each(|v| *v = per_run * 1e9 / *v);
        unit
    }

    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

/// Wall time by default; `BENCH_CLOCK=thread-cpu` times the thread's CPU
/// time instead, for machines that other work shares.
fn main() {
    let config = |c: Criterion| {
        c.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .configure_from_args()
    };
    if std::env::var_os("BENCH_CLOCK").is_some_and(|clock| clock == "thread-cpu") {
        let mut c = config(Criterion::default()).with_measurement(ThreadCpuTime);
        run(&mut c);
        c.final_summary();
    } else {
        let mut c = config(Criterion::default());
        run(&mut c);
        c.final_summary();
    }
}
