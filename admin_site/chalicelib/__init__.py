"""The admin API's own pieces; the job logic is the shared ``job_scheduler`` package."""
