# Makes the committed input series (series.csv) that the golden scripts run R surveillance on.
# Deterministic (set.seed, R's default RNG); rerun only to change the inputs, then rerun
#   Rscript make_ears_golden.R && Rscript make_farrington_golden.R
# from this folder and commit all CSVs together.
set.seed(20240601)
weeks <- 364L                       # 7 years of weekly counts (Farrington needs b = 5 years + w)
t <- seq_len(weeks)
season <- function(amp, phase = 0) amp * sin(2 * pi * (t + phase) / 52)

series <- list()
# seasonal: Poisson around a winter peak
series$seasonal <- rpois(weeks, exp(1.8 + season(0.7)))
# trending: rising counts with mild seasonality, overdispersed
series$trending <- rnbinom(weeks, mu = exp(0.6 + 0.006 * t + season(0.3, 10)), size = 8)
# sparse: mostly zeros, the typical count of one substance in one area
series$sparse <- rpois(weeks, 0.12)
# outbreak: seasonal negative binomial with planted outbreaks, some in the past baselines
base <- rnbinom(weeks, mu = exp(2.0 + season(0.5, 5)), size = 5)
spikes <- rep(0L, weeks)
for (start in c(60L, 150L, 200L, 270L, 330L, 355L)) {
  len <- 4L
  spikes[start:(start + len - 1L)] <- rpois(len, 4 * exp(2.0))
}
series$outbreak <- base + spikes[seq_len(weeks)]
# flat: long constant runs (sd = 0 baselines) then a jump; exercises EARS's divide-by-zero paths
series$flat <- c(rep(3L, 40), 5L, rep(3L, 10), 0L, 0L, rep(2L, 12), 9L, 9L, 9L, rep(2L, 10))
# short: too short for Farrington, enough for every EARS method
series$short <- rpois(20, 4)

out <- do.call(rbind, lapply(names(series), function(id)
  data.frame(series_id = id, t = seq_along(series[[id]]), count = series[[id]])))
write.csv(out, "series.csv", row.names = FALSE, quote = FALSE)
