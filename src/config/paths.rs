//! Where the config came from, and relative paths resolved as Fabric resolves them: against
//! the folder of the config file. Text handed over without a file resolves against
//! `FABRIC_CFG_PATH` (where a Fabric peer finds its `core.yaml`) when it is set, else against
//! the working directory.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, EnvOverrides};

/// The base folder of relative paths and the environment overrides of one config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigOrigin {
    /// Relative paths in the config are joined to this folder.
    pub base_dir: PathBuf,
    pub env: EnvOverrides,
}

impl ConfigOrigin {
    /// Config text with no file: base `FABRIC_CFG_PATH`, else the working directory; the
    /// process's `CORE_*` variables.
    pub fn for_text() -> Result<ConfigOrigin, ConfigError> {
        let base_dir = match std::env::var_os("FABRIC_CFG_PATH").filter(|p| !p.is_empty()) {
            Some(p) => absolute(Path::new(&p))?,
            None => current_dir()?,
        };
        Ok(ConfigOrigin {
            base_dir,
            env: EnvOverrides::from_process(),
        })
    }

    /// The config file at `path`: base its folder; the process's `CORE_*` variables.
    pub fn for_file(path: &Path) -> Result<ConfigOrigin, ConfigError> {
        let file = absolute(path)?;
        let base_dir = file.parent().map(Path::to_path_buf).unwrap_or(file);
        Ok(ConfigOrigin {
            base_dir,
            env: EnvOverrides::from_process(),
        })
    }
}

fn current_dir() -> Result<PathBuf, ConfigError> {
    std::env::current_dir()
        .map_err(|e| ConfigError(format!("cannot read the working directory: {e}")))
}

fn absolute(p: &Path) -> Result<PathBuf, ConfigError> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(current_dir()?.join(p))
    }
}

/// Fabric's `TranslatePath`: absolute paths stay, relative ones join `base`.
fn translate(base: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

impl Config {
    /// Makes every file and folder path of the config absolute against `base`.
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let p = &mut self.peer;
        translate(base, &mut p.file_system_path);
        let tls = &mut p.tls;
        for slot in [
            &mut p.msp_config_path,
            &mut tls.cert_file,
            &mut tls.key_file,
            &mut tls.client_cert_file,
            &mut tls.client_key_file,
            &mut tls.root_cert_file,
        ]
        .into_iter()
        .flatten()
        {
            translate(base, slot);
        }
        for f in &mut tls.client_root_cas {
            translate(base, f);
        }
        for o in &mut p.deliveryclient.address_overrides {
            if let Some(f) = &mut o.ca_certs_file {
                translate(base, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(base: &str, env: &[(&str, &str)]) -> ConfigOrigin {
        ConfigOrigin {
            base_dir: base.into(),
            env: EnvOverrides::from_pairs(env.iter().copied()),
        }
    }

    #[test]
    fn relative_paths_join_the_base_folder() {
        let text = "peer:\n  fileSystemPath: data\n  mspConfigPath: /abs/msp\n  tls:\n    \
                    enabled: true\n    cert: {file: tls/server.crt}\n    key: {file: tls/server.key}\n    \
                    rootcert: {file: tls/ca.crt}\n    clientRootCAs: {files: [a.pem, /b.pem]}\n  \
                    deliveryclient:\n    addressOverrides: [{from: 'o:1', to: 'o:2', caCertsFile: ca.pem}]\n";
        let c = Config::load(text, &origin("/etc/peer", &[])).unwrap();
        let p = &c.peer;
        assert_eq!(p.file_system_path, PathBuf::from("/etc/peer/data"));
        assert_eq!(p.msp_config_path, Some(PathBuf::from("/abs/msp")));
        assert_eq!(
            p.tls.cert_file,
            Some(PathBuf::from("/etc/peer/tls/server.crt"))
        );
        assert_eq!(
            p.tls.root_cert_file,
            Some(PathBuf::from("/etc/peer/tls/ca.crt"))
        );
        assert_eq!(
            p.tls.client_root_cas,
            vec![PathBuf::from("/etc/peer/a.pem"), PathBuf::from("/b.pem")]
        );
        assert_eq!(
            p.deliveryclient.address_overrides[0].ca_certs_file,
            Some(PathBuf::from("/etc/peer/ca.pem"))
        );
        // The default data directory is absolute already; parse alone keeps paths as written.
        let c = Config::load("peer: {}", &origin("/etc/peer", &[])).unwrap();
        assert_eq!(
            c.peer.file_system_path,
            PathBuf::from("/var/hyperledger/production")
        );
        let c = Config::parse("peer: {fileSystemPath: data}").unwrap();
        assert_eq!(c.peer.file_system_path, PathBuf::from("data"));
    }

    #[test]
    fn a_file_resolves_against_its_folder() {
        let o = ConfigOrigin::for_file(Path::new("/srv/fabric/config/core.yaml")).unwrap();
        assert_eq!(o.base_dir, PathBuf::from("/srv/fabric/config"));
        let o = ConfigOrigin::for_file(Path::new("core.yaml")).unwrap();
        assert_eq!(o.base_dir, std::env::current_dir().unwrap());
    }

    #[test]
    fn environment_overrides_win_over_the_text() {
        let text = "peer:\n  gossip:\n    bootstrap: 127.0.0.1:7051\n    sendBuffSize: 7\n";
        let env = [
            ("CORE_PEER_GOSSIP_BOOTSTRAP", "a:1 b:2"),
            ("CORE_PEER_GOSSIP_ALIVETIMEINTERVAL", "200ms"),
            ("CORE_PEER_GOSSIP_SENDBUFFSIZE", "9"),
            ("CORE_PEER_GOSSIP_STATE_ENABLED", "true"),
            ("CORE_PEER_LISTENADDRESS", "127.0.0.1:0"),
            ("CORE_PEER_FILESYSTEMPATH", "prod"),
            ("CORE_PEER_TLS_CLIENTROOTCAS_FILES", "x.pem y.pem"),
            ("CORE_FABGOSSIP_TRUSTEDORGS", "Org2MSP Org3MSP"),
            ("CORE_METRICS_PROVIDER", "prometheus"),
            // Keys gossip does not read are ignored, as Fabric ignores unknown variables.
            ("CORE_PEER_NETWORKID", "dev"),
            ("CORE_PEER_NOSUCHKEY", "1"),
        ];
        let c = Config::load(text, &origin("/base", &env)).unwrap();
        assert_eq!(c.gossip.bootstrap, vec!["a:1", "b:2"]);
        assert_eq!(
            c.gossip.alive_time_interval,
            std::time::Duration::from_millis(200)
        );
        assert_eq!(c.gossip.send_buff_size, 9);
        assert!(c.gossip.state.enabled);
        assert_eq!(c.peer.listen_address, "127.0.0.1:0");
        assert_eq!(c.peer.file_system_path, PathBuf::from("/base/prod"));
        assert_eq!(
            c.peer.tls.client_root_cas,
            vec![PathBuf::from("/base/x.pem"), PathBuf::from("/base/y.pem")]
        );
        assert_eq!(c.fabgossip.trusted_orgs, vec!["Org2MSP", "Org3MSP"]);
        assert_eq!(c.operations.metrics_provider, "prometheus");
        // An empty override clears a list.
        let c = Config::load(text, &origin("/", &[("CORE_PEER_GOSSIP_BOOTSTRAP", "")])).unwrap();
        assert!(c.gossip.bootstrap.is_empty());
    }

    #[test]
    fn bad_overrides_name_the_key() {
        for (var, value, key) in [
            ("CORE_PEER_GOSSIP_ORGLEADER", "yes", "peer.gossip.orgLeader"),
            (
                "CORE_PEER_GOSSIP_SENDBUFFSIZE",
                "-1",
                "peer.gossip.sendBuffSize",
            ),
            (
                "CORE_PEER_GOSSIP_PULLINTERVAL",
                "4",
                "peer.gossip.pullInterval",
            ),
            ("CORE_PEER_FILESYSTEMPATH", "", "peer.fileSystemPath"),
        ] {
            let e = Config::load("peer: {}", &origin("/", &[(var, value)])).unwrap_err();
            assert!(e.0.starts_with(&format!("{key}: ")), "{var}: {e}");
        }
    }
}
