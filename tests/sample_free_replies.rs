//! Issue 14 item 13: in a deployment whose roster was imported from files (no sample county),
//! usage hints name that roster's people, zones and schools, never the sample's; school contacts
//! are 学校联络员 everywhere; no nested brackets.

mod common;

use common::Harness;
use std::path::Path;
use std::process::Command;

const ZONES: &str = "编号,名称,级别,组长\n\
SX1,松溪县东片责任区,县级,D101\n\
SX2,松溪县西片责任区,县级,D102\n";

const SCHOOLS: &str = "学校代码,学校名称,简称,别名,责任区,学段,办学性质,市直,寄宿,主责督学,协同督学,回避督学\n\
3500000001,松溪县桃源小学,桃源小学,,SX1,小学,公办,否,否,D101,,\n\
3500000002,松溪县柏林中学,柏林中学,,SX2,初中,公办,否,否,D102,,\n";

const PEOPLE: &str = "编号,姓名,角色,督学类型,责任区,学校,职务,手机,QQ,企业微信,Telegram,备注\n\
D101,林晓岚,责任督学,专职,SX1,,,13900000001,,,,\n\
D102,欧阳辉,责任督学,专职,SX2,,,13900000002,,,,\n\
S101,程立冬,督导室,,,,督导室主任,13900000003,,,,\n\
C1001,苏雨桐,学校联络员,,,3500000001,,13900000004,,,,\n\
C1002,卢振华,校长,,,3500000001,校长,13900000005,,,,\n";

/// `dudao roster import` on the three files, as an office does before the first start.
fn import(dir: &Path) {
    let mut args = vec!["roster".to_string(), "import".to_string()];
    for (file, text) in [("zones.csv", ZONES), ("schools.csv", SCHOOLS), ("people.csv", PEOPLE)] {
        std::fs::write(dir.join(file), text).unwrap();
        args.push(dir.join(file).display().to_string());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_dudao"))
        .args(&args)
        .env("DUDAO_DATABASE__PATH", dir.join("dudao.sqlite"))
        .env("DUDAO_LOG", "warn")
        .output()
        .expect("run dudao");
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn no_sample(out: &str) {
    for sample in ["示例县", "史芳", "D005", "Z01", "实验小学", "第一督学责任区", "D012", "王芳"] {
        assert!(!out.contains(sample), "the sample's “{sample}” in a real deployment: {out}");
    }
}

#[tokio::test]
async fn usage_hints_come_from_the_deployments_own_roster() {
    let dir = tempfile::tempdir().unwrap();
    import(dir.path());
    let mut h = Harness::start_in(dir, "[roster]\nsample_on_empty = false\n", None).await;
    for (acct, code) in [("cheng", "S101"), ("lin", "D101"), ("su", "C1001")] {
        h.bind(acct, code).await;
    }

    // The task usage errors name people, a zone and a school of this county.
    let out = h.say("cheng: 布置任务 冬季取暖设施排查 截止:下周五").await;
    assert!(out.contains("对象:林晓岚、D102") && out.contains("松溪县东片责任区"), "{out}");
    assert!(out.contains("松溪县桃源小学"), "{out}");
    no_sample(&out);
    let out = h.say("cheng: 布置任务").await;
    assert!(out.contains("对象:松溪县东片责任区"), "{out}");
    no_sample(&out);
    let out = h.say("cheng: 布置任务 冬季取暖设施排查 对象:韩梅梅 截止:下周五").await;
    assert!(out.contains("没有找到") && out.contains("D102、SX1"), "{out}");
    no_sample(&out);

    // Other hints: the inspector's own school and zone, or the roster's.
    let out = h.say("lin: 督导纪实").await;
    assert!(out.contains("学校：桃源小学"), "{out}");
    no_sample(&out);
    let out = h.say("lin: 学校").await;
    assert!(out.contains("学校 桃源小学"), "{out}");
    no_sample(&out);
    let out = h.say("lin: 整改台账 全县").await;
    assert!(out.contains("整改台账 松溪县东片责任区"), "{out}");
    no_sample(&out);
    let out = h.say("cheng: 督导进度 北片").await;
    assert!(out.contains("督导进度 SX1"), "{out}");
    no_sample(&out);
    let out = h.say("cheng: 绑定码").await;
    assert!(out.contains("绑定码 D102") && out.contains("绑定码 林晓岚"), "{out}");
    no_sample(&out);

    // One term for school contacts; severity in brackets without brackets inside.
    let out = h.say("cheng: 学校 桃源小学").await;
    assert!(out.contains("学校联络员：苏雨桐") && !out.contains("联络人"), "{out}");
    let out = h.say("su: 自查清单\n1. 6 轻微 楼梯转角照明灯不亮\n2. 7 一般 晨检记录漏填").await;
    assert!(out.contains("（轻微，当场整改）"), "{out}");
    assert!(!out.contains("（轻微（") && !out.contains("））"), "{out}");
    h.stop().await;
}
