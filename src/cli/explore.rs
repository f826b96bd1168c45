//! `leasesim explore <model> [--port P]`: serve stateright's Explorer for a model on 127.0.0.1 and
//! say where. The port is bind-checked first, because stateright's `serve()` panics when the
//! port is taken; a taken port is a clear error and exit 2. Serving blocks until the process is
//! killed.

use std::io::Write;
use std::net::TcpListener;
use std::process::ExitCode;

use leasesim::bugs::Bugs;
use leasesim_models::cluster::ClusterModel;
use leasesim_models::lessor::LessorModel;
use stateright::Model;

use super::check::ModelName;

pub fn run(model: ModelName, port: u16, checkpointing: bool, bugs: Bugs) -> ExitCode {
    let port = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => match listener.local_addr() {
            Ok(address) => address.port(), // `--port 0` picks a free port
            Err(e) => {
                eprintln!("error: cannot read the address bound on 127.0.0.1:{port}: {e}");
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            eprintln!("error: cannot serve the Explorer on 127.0.0.1:{port}: {e} (is the port in use?)");
            return ExitCode::from(2);
        }
    };
    let address = format!("127.0.0.1:{port}");
    println!("Explorer for the {model} model: http://{address}/ (Ctrl-C stops it)");
    let _ = std::io::stdout().flush();
    match model {
        ModelName::Lessor => {
            LessorModel::new(checkpointing, bugs).checker().serve(address);
        }
        ModelName::Cluster => {
            ClusterModel::new(checkpointing, bugs).checker().serve(address);
        }
    }
    ExitCode::SUCCESS
}
