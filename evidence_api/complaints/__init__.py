"""Complaints and reports (投诉举报): public intake with attachments fixed and stamped, triage,
professional-complainant flags (docs/complaints.md)."""
