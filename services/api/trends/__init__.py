"""Trends: perturbed counts of reports by area, region, substance, class, source, setting, week."""
