//! The AWS Auto Scaling actuator against a real moto server (moto[server] from PyPI, in the
//! venv scripts/test.sh makes). moto runs with request authentication on
//! (INITIAL_NO_AUTH_ACTION_COUNT): after the IAM set-up calls, every request must carry a
//! SigV4 signature that botocore, inside moto, recomputes to the same value. So this also
//! checks our signer against AWS's own SDK.
//!
//! Skips with a note when the venv lacks moto_server, unless SCALE_REQUIRE_INTEGRATION=1.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use scale::actuate::cloud::aws::asg::{AutoScalingClient, AwsAsg};
use scale::actuate::cloud::aws::config::AwsConfig;
use scale::actuate::cloud::aws::sigv4::Credentials;
use scale::actuate::{ActuateError, Outcome, ScaleReading, ScaleTarget, apply};
use scale::core::retry::RetryPolicy;

fn venv() -> PathBuf {
    PathBuf::from(std::env::var("SCALE_PY_VENV").unwrap_or_else(|_| "/var/tmp/scale-venv".into()))
}

/// The moto server process; killed and reaped on drop, also when a test fails.
struct Moto {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto_server on a free 127.0.0.1 port and waits (bounded) until it answers.
    fn start() -> Option<Moto> {
        let bin = venv().join("bin/moto_server");
        if !bin.exists() {
            assert!(
                std::env::var("SCALE_REQUIRE_INTEGRATION").as_deref() != Ok("1"),
                "{} is missing and SCALE_REQUIRE_INTEGRATION=1 (scripts/test.sh installs moto[server])",
                bin.display()
            );
            eprintln!(
                "note: skipping: {} not found (run scripts/test.sh to install moto[server])",
                bin.display()
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("moto.log")).unwrap();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Three IAM set-up calls go unauthenticated; everything after must be signed right.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "false")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut moto = Moto { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(moto);
            }
            if let Some(status) = moto.child.try_wait().unwrap() {
                let log = std::fs::read_to_string(moto._dir.path().join("moto.log")).unwrap_or_default();
                panic!("moto_server exited with {status} before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Runs a boto3 snippet against this server; returns its stdout. `ARGS` holds the extra args.
    fn boto3(&self, script: &str, args: &[&str]) -> String {
        let out = Command::new(venv().join("bin/python"))
            .arg("-c")
            .arg(format!(
                "import sys, json, boto3\nARGS = sys.argv[1:]\ndef client(svc, key='test', secret='test'):\n    return boto3.client(svc, region_name='us-east-1', endpoint_url='{}', aws_access_key_id=key, aws_secret_access_key=secret)\n{script}",
                self.endpoint()
            ))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "boto3 script failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Counts the calls `apply` makes on the real target.
struct Counting<'a> {
    inner: &'a AwsAsg,
    reads: AtomicU32,
    writes: AtomicU32,
}

#[async_trait::async_trait]
impl ScaleTarget for Counting<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn read(&self) -> Result<ScaleReading, ActuateError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read().await
    }
    async fn write(&self, replicas: u32) -> Result<(), ActuateError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.write(replicas).await
    }
}

fn target(endpoint: &str, key: &str, secret: &str, group: &str) -> AwsAsg {
    let config = AwsConfig {
        credentials: Credentials {
            access_key_id: key.into(),
            secret_access_key: secret.into(),
            session_token: None,
        },
        region: "us-east-1".into(),
        endpoint: endpoint.into(),
    };
    AwsAsg::new(AutoScalingClient::new(config).unwrap(), group).unwrap()
}

// IAM user with full rights (3 unauthenticated calls), then a launch configuration and a group
// (MinSize 1, MaxSize 6, DesiredCapacity 2) created with that user's key, signed by botocore.
const SETUP: &str = r#"
iam = client('iam')
iam.create_user(UserName='scale')
key = iam.create_access_key(UserName='scale')['AccessKey']
iam.put_user_policy(UserName='scale', PolicyName='all', PolicyDocument=json.dumps(
    {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))
asg = client('autoscaling', key['AccessKeyId'], key['SecretAccessKey'])
asg.create_launch_configuration(LaunchConfigurationName='scale-lc', ImageId='ami-12c6146b', InstanceType='t2.micro')
asg.create_auto_scaling_group(AutoScalingGroupName='web', LaunchConfigurationName='scale-lc',
    MinSize=1, MaxSize=6, DesiredCapacity=2, AvailabilityZones=['us-east-1a'])
print(json.dumps([key['AccessKeyId'], key['SecretAccessKey']]))
"#;

// moto's own view through boto3: desired capacity, max size and running instances.
const VIEW: &str = r#"
g = client('autoscaling', ARGS[0], ARGS[1]).describe_auto_scaling_groups(AutoScalingGroupNames=['web'])['AutoScalingGroups'][0]
print(json.dumps([g['DesiredCapacity'], g['MaxSize'], len(g['Instances'])]))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_reach_a_moto_auto_scaling_group() {
    let Some(moto) = Moto::start() else { return };
    let keys: (String, String) = serde_json::from_str(moto.boto3(SETUP, &[]).trim()).unwrap();
    let (key, secret) = (keys.0.as_str(), keys.1.as_str());
    let asg = target(&moto.endpoint(), key, secret, "web");
    assert_eq!(asg.describe(), "aws-asg/us-east-1/web");
    assert_eq!(
        asg.read().await.unwrap(),
        ScaleReading {
            replicas: 2,
            min: Some(1),
            max: Some(6)
        }
    );

    let policy = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
        seed: 1,
    };
    let refused = ActuateError::Refused("7 replicas is above the target's maximum 6".into());
    // (desired, outcome, writes made, DesiredCapacity afterwards). moto would accept 7 > MaxSize,
    // so the refusal (no write) is ours.
    let steps = [
        (
            5,
            Outcome::Applied {
                from: 2,
                to: 5,
                attempts: 1,
            },
            1,
            5,
        ),
        (
            3,
            Outcome::Applied {
                from: 5,
                to: 3,
                attempts: 1,
            },
            1,
            3,
        ),
        (3, Outcome::Unchanged { replicas: 3 }, 0, 3),
        (
            7,
            Outcome::Failed {
                error: refused,
                attempts: 0,
            },
            0,
            3,
        ),
        (
            6,
            Outcome::Applied {
                from: 3,
                to: 6,
                attempts: 1,
            },
            1,
            6,
        ),
    ];
    for (desired, want, want_writes, after) in steps {
        let counting = Counting {
            inner: &asg,
            reads: AtomicU32::new(0),
            writes: AtomicU32::new(0),
        };
        assert_eq!(apply(&counting, desired, &policy).await, want, "decision {desired}");
        assert_eq!(
            counting.writes.load(Ordering::SeqCst),
            want_writes,
            "writes for decision {desired}"
        );
        assert_eq!(counting.reads.load(Ordering::SeqCst), 1, "reads for decision {desired}");
        assert_eq!(
            asg.read().await.unwrap().replicas,
            after,
            "DesiredCapacity after decision {desired}"
        );
    }
    // moto's own view, read and signed by boto3: desired 6, max 6, and six instances launched.
    let view: (u32, u32, u32) = serde_json::from_str(moto.boto3(VIEW, &[key, secret]).trim()).unwrap();
    assert_eq!(view, (6, 6, 6));

    // A group that does not exist fails without a write.
    let missing = target(&moto.endpoint(), key, secret, "nope");
    assert_eq!(
        apply(&missing, 3, &policy).await,
        Outcome::Failed {
            error: ActuateError::Rejected {
                status: 404,
                message: "Auto Scaling group \"nope\" not found".into()
            },
            attempts: 0
        }
    );

    // A wrong secret is caught by moto's signature check (so the checks above were real).
    let forged = target(&moto.endpoint(), key, "not-the-secret", "web");
    match forged.read().await {
        Err(ActuateError::Rejected { status: 403, message }) => {
            assert!(message.contains("SignatureDoesNotMatch"), "{message}")
        }
        other => panic!("a bad signature must be rejected with 403, got {other:?}"),
    }
    // An unknown key too.
    let unknown = target(&moto.endpoint(), "AKIDUNKNOWN0000000000", secret, "web");
    assert!(matches!(
        unknown.read().await,
        Err(ActuateError::Rejected { status: 403, .. })
    ));
}

/// The serve loop end to end on a moto group: a trained artifact forecasts, the governor
/// bounds the decision by the group's own MaxSize (read from DescribeAutoScalingGroups), and
/// SetDesiredCapacity leaves the group at exactly what each decision record says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_loop_decisions_set_a_moto_group_and_the_governor_holds_its_max() {
    use scale::core::reason::Reason;
    use scale::core::time::ManualClock;
    use scale::govern::Mode;
    use scale::observe::memory::MemorySource;
    use scale::serve::actuation::Actuation;
    use scale::serve::config::ServeConfig;
    use scale::serve::publish::Shared;
    use scale::serve::service::ServiceLoop;
    use scale::serve::tick::{TickContext, tick};
    use scale::train::backtest::{BacktestConfig, Family};
    use scale::train::{Retention, train_series};
    use std::sync::Arc;

    let Some(moto) = Moto::start() else { return };
    let keys: (String, String) = serde_json::from_str(moto.boto3(SETUP, &[]).trim()).unwrap();
    let asg = target(&moto.endpoint(), &keys.0, &keys.1, "web");

    // A model trained on four days of one-minute demand around 50 req/s.
    let models = tempfile::tempdir().unwrap();
    let start = 1_700_000_000 - 1_700_000_000 % 86_400;
    let y: Vec<f64> = (0..4 * 1440)
        .map(|t| 50.0 + 5.0 * (std::f64::consts::TAU * t as f64 / 1440.0).sin() + ((t * 7919) % 13) as f64 / 4.0)
        .collect();
    let mut bt = BacktestConfig::new(10);
    bt.families = vec![Family::SeasonalNaive];
    train_series(
        &scale::core::series::Series::new("web", start, 60, y),
        &bt,
        models.path(),
        Retention::default(),
    )
    .unwrap();
    // Config max 10 is above the group's MaxSize 6: the group's bound must win.
    let cfg = ServeConfig::parse(&format!(
        "[defaults]\nmodels = {:?}\nlead = \"2m\"\nhistory = \"10m\"\n[source.prometheus]\nurl = \"http://127.0.0.1:9\"\n\
         [[service]]\nname = \"web\"\nquery = \"q\"\ncapacity_per_replica = 20\nmin_replicas = 1\nmax_replicas = 10\n",
        models.path().display().to_string()
    ))
    .unwrap();
    let mut act = Actuation::new(Arc::new(asg), "aws-asg", Mode::Auto, 1, 10, 2);
    act.policy = RetryPolicy {
        attempts: 3,
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
        seed: 1,
    };
    let mut svc = ServiceLoop::new(&cfg, &cfg.services[0], Mode::Auto, act);
    let source = Arc::new(MemorySource::new());
    let clock = Arc::new(ManualClock::new(0));
    let ctx = TickContext {
        source: source.clone(),
        shared: Arc::new(Shared::new(&[])),
        clock: clock.clone(),
        history: cfg.history_seconds(),
        after: None,
        budget: cfg.tick_budget(),
    };
    let end = start + 4 * 86_400;
    let check = target(&moto.endpoint(), &keys.0, &keys.1, "web");
    // (minutes after training, demand) → the group must end at the record's desired replicas.
    let mut capped = false;
    let mut size = 2;
    for (k, demand) in [(1, 52.0), (2, 53.0), (3, 400.0), (4, 420.0)] {
        let now = end + k * 60;
        // The query's last ten minutes, all at `demand`, the newest sample a minute old.
        source.set("q", (1..=11).map(|m| (now - m * 60, demand)).collect());
        clock.set(now);
        let out = tick(&mut svc, &ctx).await;
        let r = &out.record;
        let a = out.actuation.as_ref().expect("an actuation record");
        assert!(r.desired_replicas <= 6, "minute {k}: {r:?}");
        let now_size = check.read().await.unwrap().replicas;
        let want = if r.applied { r.desired_replicas } else { size };
        assert_eq!(now_size, want, "minute {k}: {r:?} {a:?}");
        size = now_size;
        if r.reactive.max(r.predictive).is_some_and(|p| p > 6) {
            // The plan wanted more than the group allows; the governor capped it before any
            // call (moto itself would accept it).
            assert_eq!(r.desired_replicas, 6, "{r:?}");
            assert!(r.steps.iter().any(|s| s.reason == Reason::TooManyReplicas), "{r:?}");
            capped = true;
        }
    }
    assert!(capped, "400 req/s at 20 per replica must have asked for more than 6");
    let view: (u32, u32, u32) = serde_json::from_str(moto.boto3(VIEW, &[&keys.0, &keys.1]).trim()).unwrap();
    assert_eq!(view.0, 6);
    assert_eq!(view.1, 6);
}
