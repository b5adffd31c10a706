-- resume.lua: grant free worker slots of a role to its oldest queued claims
-- (the engine asks after every reconciliation pass; ended.lua does it too).
-- ARGV[5] the role.
resume_queue(ARGV[5])
return EFFECTS
