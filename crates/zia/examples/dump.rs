//! Prints the ECS event of each line of stdin (a debugging aid; `ziaxdr parse` is the tool).
use std::io::BufRead;

fn main() {
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        match zia::parse(&line) {
            Ok(p) => {
                println!("{}", serde_json::Value::Object(p.event));
                for w in p.warnings {
                    eprintln!("warning: {w}");
                }
            }
            Err(e) => println!("{}", serde_json::Value::Object(zia::error_event(&line, &e))),
        }
    }
}
