//! The cache against the real Redis at 127.0.0.1:6379 (override with `FLEUVE_TEST_REDIS_URL`)
//! and the in-process backend: the same suite runs on both, plus the Redis outage fallback.
//!
//! Every Redis test gets its own key prefix and flushes it at the end.

use std::convert::Infallible;
use std::time::Duration;

use fleuve_cache::{Cache, CacheBackend, CacheConfig, CacheStats};

const REDIS_URL_ENV: &str = "FLEUVE_TEST_REDIS_URL";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

fn prefix() -> String {
    format!("fleuve-test:{}", uuid::Uuid::new_v4().simple())
}

fn redis_cache() -> Cache {
    let url = std::env::var(REDIS_URL_ENV).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned());
    let cache = Cache::new(&CacheConfig::redis(url, prefix())).expect("redis cache");
    assert_eq!(cache.backend(), CacheBackend::Redis);
    cache
}

fn memory_cache() -> Cache {
    let cache = Cache::new(&CacheConfig::in_process(prefix())).expect("in-process cache");
    assert_eq!(cache.backend(), CacheBackend::InProcess);
    cache
}

/// Runs each test once per backend; Redis namespaces are flushed afterwards.
macro_rules! cache_suite {
    ($($test:ident),* $(,)?) => {
        mod redis_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let cache = super::redis_cache();
                    super::$test(&cache).await;
                    cache.flush().await;
                    assert_eq!(cache.stats().errors, 0, "redis reported errors");
                }
            )*
        }
        mod in_process {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(&super::memory_cache()).await;
                }
            )*
        }
    };
}

cache_suite!(miss_then_hit, read_through_loads_once, absent_values_are_not_cached, ttl_expires, invalidation, flush);

async fn load(value: &[u8]) -> Result<Option<Vec<u8>>, Infallible> {
    Ok(Some(value.to_vec()))
}

async fn miss_then_hit(cache: &Cache) {
    assert_eq!(cache.get("k").await, None);
    cache.set("k", b"v1", Duration::from_secs(30)).await;
    assert_eq!(cache.get("k").await.as_deref(), Some(&b"v1"[..]));
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses), (1, 1));
}

async fn read_through_loads_once(cache: &Cache) {
    let ttl = Duration::from_secs(30);
    let first = cache.get_or_load("r", ttl, || load(b"loaded")).await.unwrap();
    assert_eq!(first.as_deref(), Some(&b"loaded"[..]));
    // A second loader would answer differently: the cached value must win.
    let second = cache.get_or_load("r", ttl, || load(b"other")).await.unwrap();
    assert_eq!(second.as_deref(), Some(&b"loaded"[..]));
    assert_eq!(cache.stats(), CacheStats { hits: 1, near_hits: 0, misses: 1, loads: 1, invalidations: 0, errors: 0 });
}

async fn absent_values_are_not_cached(cache: &Cache) {
    let ttl = Duration::from_secs(30);
    let none = cache.get_or_load("a", ttl, || async { Ok::<_, Infallible>(None) }).await.unwrap();
    assert_eq!(none, None);
    let some = cache.get_or_load("a", ttl, || load(b"now")).await.unwrap();
    assert_eq!(some.as_deref(), Some(&b"now"[..]));
    assert_eq!(cache.stats().loads, 2);
    let failed = cache.get_or_load("e", ttl, || async { Err::<Option<Vec<u8>>, _>("db down") }).await;
    assert_eq!(failed, Err("db down"));
    assert_eq!(cache.get("e").await, None);
}

async fn ttl_expires(cache: &Cache) {
    cache.set("t", b"short", Duration::from_secs(1)).await;
    cache.set("l", b"long", Duration::from_secs(30)).await;
    assert!(cache.get("t").await.is_some());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(cache.get("t").await, None, "entry outlived its ttl");
    assert_eq!(cache.get("l").await.as_deref(), Some(&b"long"[..]));
}

async fn invalidation(cache: &Cache) {
    let ttl = Duration::from_secs(30);
    for key in ["x", "y", "z"] {
        cache.set(key, key.as_bytes(), ttl).await;
    }
    cache.invalidate(["x", "y", "never-set"]).await;
    assert_eq!(cache.get("x").await, None);
    assert_eq!(cache.get("y").await, None);
    assert_eq!(cache.get("z").await.as_deref(), Some(&b"z"[..]));
    assert_eq!(cache.stats().invalidations, 3);
    let reloaded = cache.get_or_load("x", ttl, || load(b"x2")).await.unwrap();
    assert_eq!(reloaded.as_deref(), Some(&b"x2"[..]));
}

async fn flush(cache: &Cache) {
    let ttl = Duration::from_secs(30);
    // A neighbour namespace sharing the backend must survive the flush.
    let neighbour = match cache.backend() {
        CacheBackend::Redis => Some(redis_cache()),
        CacheBackend::InProcess => None,
    };
    if let Some(n) = &neighbour {
        n.set("keep", b"1", ttl).await;
    }
    for i in 0..1_200 {
        cache.set(&format!("f{i}"), b"v", ttl).await;
    }
    cache.flush().await;
    assert_eq!(cache.get("f0").await, None);
    assert_eq!(cache.get("f1199").await, None);
    if let Some(n) = neighbour {
        assert_eq!(n.get("keep").await.as_deref(), Some(&b"1"[..]));
        n.flush().await;
    }
}

/// An invalidation racing a load keeps the (possibly stale) loaded value out of the cache.
#[tokio::test]
async fn invalidation_during_load_is_not_overwritten() {
    let cache = memory_cache();
    let ttl = Duration::from_secs(30);
    let value = cache
        .get_or_load("race", ttl, || async {
            cache.invalidate(["race"]).await;
            Ok::<_, Infallible>(Some(b"old".to_vec()))
        })
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some(&b"old"[..]));
    assert_eq!(cache.get("race").await, None);
}

#[tokio::test]
async fn in_process_cache_is_bounded() {
    let config = CacheConfig { max_entries: 10, ..CacheConfig::in_process(prefix()) };
    let cache = Cache::new(&config).unwrap();
    for i in 0..200 {
        cache.set(&format!("b{i}"), b"v", Duration::from_secs(30)).await;
    }
    let mut present = 0;
    for i in 0..200 {
        present += usize::from(cache.get(&format!("b{i}")).await.is_some());
    }
    assert!(present < 50, "{present} entries kept with max_entries 10");
}

/// Redis down (a port nobody listens on): every operation answers, counts an error and the
/// read-through falls back to its loader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_the_loader() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cache = Cache::new(&CacheConfig::redis(format!("redis://127.0.0.1:{closed}"), prefix())).unwrap();
    let ttl = Duration::from_secs(30);
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let value = cache.get_or_load("k", ttl, || load(b"from-db")).await.unwrap();
        assert_eq!(value.as_deref(), Some(&b"from-db"[..]));
    }
    cache.invalidate(["k"]).await;
    cache.flush().await;
    assert!(started.elapsed() < Duration::from_secs(5), "outage fallback took {:?}", started.elapsed());
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.loads), (0, 3, 3));
    // Per lookup a failed GET and a failed SET, then the invalidation and the flush.
    assert_eq!(stats.errors, 8, "{stats:?}");
}

/// A Redis that answers but not in time: the response timeout bounds the wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresponsive_redis_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts and keeps connections open without ever answering.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config =
        CacheConfig { redis_timeout_ms: 200, ..CacheConfig::redis(format!("redis://127.0.0.1:{port}"), prefix()) };
    let cache = Cache::new(&config).unwrap();
    let started = std::time::Instant::now();
    let value = cache.get_or_load("k", Duration::from_secs(30), || load(b"from-db")).await.unwrap();
    assert_eq!(value.as_deref(), Some(&b"from-db"[..]));
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert!(cache.stats().errors >= 1);
    silent.abort();
}

fn redis_url() -> String {
    std::env::var(REDIS_URL_ENV).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

/// A near-cached Redis cache whose listener is subscribed, and a plain connection to write
/// behind its back as another process would.
async fn near_cache_and_writer() -> (Cache, redis::aio::MultiplexedConnection) {
    let cache = redis_cache();
    assert!(cache.wait_near_cache_online(0, Duration::from_secs(5)).await, "near cache never came online");
    let writer = redis::Client::open(redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    (cache, writer)
}

/// Polls `cache.get(key)` until it returns `want`, for up to 2 s.
async fn eventually(cache: &Cache, key: &str, want: Option<&[u8]>) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let got = cache.get(key).await;
        if got.as_deref() == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(2), "{key} still {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Reads `key` until the near cache answers it (Redis's report of the write that stored it
/// may still remove the first copy), checking every answer.
async fn near_cached(cache: &Cache, key: &str, want: &[u8]) {
    let before = cache.stats().near_hits;
    for _ in 0..200 {
        assert_eq!(cache.get(key).await.as_deref(), Some(want));
        if cache.stats().near_hits > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("{key} never answered by the near cache: {:?}", cache.stats());
}

/// Repeat reads are answered in process; a change made by another client (another replica's
/// projection) reaches it through Redis's report; this process's own invalidation is seen at
/// once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_answers_repeat_reads_and_follows_other_writers() {
    use redis::AsyncCommands as _;
    let (cache, mut writer) = near_cache_and_writer().await;
    let full = |key: &str| format!("{}:{key}", cache.key_prefix());
    let ttl = Duration::from_secs(30);
    cache.set("k", b"v1", ttl).await;
    near_cached(&cache, "k", b"v1").await;

    let _: () = writer.set_ex(full("k"), b"v2", 30).await.unwrap();
    let took = eventually(&cache, "k", Some(b"v2")).await;
    println!("another writer's change seen after {took:?}");
    let _: () = writer.del(full("k")).await.unwrap();
    eventually(&cache, "k", None).await;

    cache.set("own", b"a", ttl).await;
    near_cached(&cache, "own", b"a").await;
    cache.invalidate(["own"]).await;
    assert_eq!(cache.get("own").await, None, "own invalidation must be seen at once");

    // A shorter Redis TTL bounds the near copy.
    cache.set("short", b"s", Duration::from_secs(1)).await;
    near_cached(&cache, "short", b"s").await;
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(cache.get("short").await, None, "near copy outlived the Redis entry");
    cache.flush().await;
    assert_eq!(cache.stats().errors, 0);
}

/// While the listener is disconnected Redis reports nothing to this process: the near cache
/// answers nothing, and what it held before is dropped when it subscribes again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_forgets_everything_when_its_listener_drops() {
    use redis::AsyncCommands as _;
    let (cache, mut writer) = near_cache_and_writer().await;
    let key = format!("{}:k", cache.key_prefix());
    cache.set("k", b"before", Duration::from_secs(30)).await;
    near_cached(&cache, "k", b"before").await;
    let clients: String = redis::cmd("CLIENT").arg("LIST").query_async(&mut writer).await.unwrap();
    let name = format!("name={}:{} ", fleuve_cache::LISTENER_NAME, cache.key_prefix());
    let id = clients
        .lines()
        .find(|line| line.contains(&name))
        .and_then(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
        .expect("the listener connection is in CLIENT LIST")
        .to_owned();
    let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(&id).query_async(&mut writer).await.unwrap();
    assert_eq!(killed, 1);
    // Changed while nobody listens for this process.
    let _: () = writer.set_ex(&key, b"after", 30).await.unwrap();
    assert!(cache.wait_near_cache_online(1, Duration::from_secs(5)).await, "listener did not come back");
    assert_eq!(cache.get("k").await.as_deref(), Some(&b"after"[..]));
    assert_eq!(cache.get("k").await.as_deref(), Some(&b"after"[..]));
    cache.flush().await;
}

/// `near_cache = false`: every lookup is a Redis round trip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_near_cache_every_lookup_asks_redis() {
    let cache = Cache::new(&CacheConfig { near_cache: false, ..CacheConfig::redis(redis_url(), prefix()) }).unwrap();
    cache.set("k", b"v", Duration::from_secs(30)).await;
    for _ in 0..3 {
        assert_eq!(cache.get("k").await.as_deref(), Some(&b"v"[..]));
    }
    assert!(!cache.near_cache_online());
    assert!(!cache.wait_near_cache_online(0, Duration::from_millis(300)).await);
    assert_eq!((cache.stats().hits, cache.stats().near_hits), (3, 0));
    cache.flush().await;
}
