# Golden outputs of R surveillance::earsC (C1, C2, C3) for tests/detector/test_ears.py.
# Run from this folder: Rscript make_ears_golden.R   (needs Debian's r-cran-surveillance)
# Reads series.csv (made by make_inputs.R); writes ears_golden.csv with one row per
# (series, method, parameter set, period); periods before earsC's default range (not enough
# history) have NA upper and alarm.
suppressPackageStartupMessages(library(surveillance))
inputs <- read.csv("series.csv")

settings <- list(
  list(alpha = 0.001, baseline = 7, minSigma = 0),    # R's documented defaults
  list(alpha = 0.025, baseline = 10, minSigma = 0.5)  # exercises the other arguments
)

rows <- list()
for (id in unique(inputs$series_id)) {
  y <- inputs$count[inputs$series_id == id]
  for (s in settings) {
    for (method in c("C1", "C2", "C3")) {
      lag0 <- switch(method, C1 = 0, C2 = 2, C3 = 2)
      first <- s$baseline + lag0 + switch(method, C1 = 1, C2 = 1, C3 = 3)
      if (length(y) < first + 1) next  # earsC needs a range of 2+ periods (see ears.py)
      stsObj <- sts(observed = matrix(y, ncol = 1), frequency = 52, start = c(2017, 1))
      res <- earsC(stsObj, control = list(method = method, alpha = s$alpha,
                                         baseline = s$baseline, minSigma = s$minSigma))
      upper <- rep(NA_real_, length(y))
      alarm <- rep(NA, length(y))
      upper[first:length(y)] <- as.vector(upperbound(res))
      alarm[first:length(y)] <- as.vector(alarms(res))
      # earsC does not return the baseline mean; computed here with R's mean() over the same
      # window earsC uses (lags 1..b for C1, 3..b+2 for C2 and C3).
      expected <- rep(NA_real_, length(y))
      for (i in first:length(y)) {
        expected[i] <- mean(y[(i - lag0 - s$baseline):(i - lag0 - 1)])
      }
      rows[[length(rows) + 1]] <- data.frame(
        series_id = id, method = method, alpha = s$alpha, baseline = s$baseline,
        min_sigma = s$minSigma, t = seq_along(y), count = y,
        expected = expected, upper = upper, alarm = as.integer(alarm))
    }
  }
}
out <- do.call(rbind, rows)
write.csv(out, "ears_golden.csv", row.names = FALSE, quote = FALSE, na = "")
cat("surveillance", as.character(packageVersion("surveillance")), "rows", nrow(out), "\n")
