-- An import keeps its file and how far it was expanded: lectures of rules without an end are added as time passes
-- (api/lecture-window.ts), and every import says how many parts of its file were skipped.
ALTER TABLE lecture_imports ADD COLUMN source text;
ALTER TABLE lecture_imports ADD COLUMN timezone text;
ALTER TABLE lecture_imports ADD COLUMN expanded_until timestamptz;
ALTER TABLE lecture_imports ADD COLUMN continuing integer NOT NULL DEFAULT 0;
ALTER TABLE lecture_imports ADD COLUMN skipped integer NOT NULL DEFAULT 0;
