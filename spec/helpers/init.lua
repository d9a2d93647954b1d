-- Loaded by busted before any spec (see .busted): shared set-up for every spec file.
-- Each concern adds its own helper module beside this file (spec/helpers/*.lua).
return {}
