//! The peer of the parse benchmark: a VRL program (Vector's transform language) that parses
//! the same ZIA records and renames the same fields as the `zia` crate, so both can be
//! measured in the same run. Kept out of the workspace's default members: VRL is large.

pub mod corpus;

use std::collections::BTreeMap;

use vrl::compiler::{state::RuntimeState, Context, Program, TargetValue, TimeZone};
use vrl::value::{Secrets, Value};

/// The VRL source of the peer.
pub const PROGRAM: &str = include_str!("zia.vrl");

/// A compiled VRL program that turns one raw ZIA record into an event.
pub struct VrlPeer {
    program: Program,
    state: RuntimeState,
    tz: TimeZone,
}

/// The VRL program failed to compile.
#[derive(Debug)]
pub struct CompileError(pub String);

impl VrlPeer {
    /// Compiles the peer program.
    pub fn new() -> Result<Self, CompileError> {
        let fns = vrl::stdlib::all();
        let result = vrl::compiler::compile(PROGRAM, &fns).map_err(|diags| {
            CompileError(vrl::diagnostic::Formatter::new(PROGRAM, diags).to_string())
        })?;
        Ok(Self {
            program: result.program,
            state: RuntimeState::default(),
            tz: TimeZone::default(),
        })
    }

    /// Runs the program on one raw record (`.message`), returning the event or the error.
    pub fn process(&mut self, raw: &str) -> Result<Value, String> {
        let mut fields = BTreeMap::new();
        fields.insert("message".into(), Value::from(raw));
        let mut target = TargetValue {
            value: Value::Object(fields),
            metadata: Value::Object(BTreeMap::new()),
            secrets: Secrets::default(),
        };
        self.state.clear();
        let mut ctx = Context::new(&mut target, &mut self.state, &self.tz);
        self.program.resolve(&mut ctx).map_err(|e| e.to_string())?;
        Ok(target.value)
    }
}
