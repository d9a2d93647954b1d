-- graphcomm.version: the release's version, kept in this one place. graphcomm._VERSION,
-- `graphcomm --version`, the SdkVersion and User-Agent headers and core.version read it;
-- the versioned rockspec (graphcomm-<version>-1.rockspec, written by
-- scripts/gen-rockspec.lua) carries it in its name and version field, and
-- spec/release_version_spec.lua fails when any of them disagree.
-- Pure Lua with no requires: bin/graphcomm answers --version with nothing built.
return "0.2.0"
