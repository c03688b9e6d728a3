# Golden outputs of R surveillance::farringtonFlexible for tests/detector/test_farrington.py.
# Run from this folder: Rscript make_farrington_golden.R   (needs Debian's r-cran-surveillance)
# Reads series.csv (made by make_inputs.R); writes farrington_golden.csv with one row per
# (configuration, series, judged period).
#
# Each configuration is run twice: with its limit54 (R's minimum-count rule: upperbound and
# expected are NA, alarm FALSE, when fewer than 5 cases in the last 4 periods) and with
# limit54 = c(0, 4), which switches the rule off so that expected and upperbound are reported
# for every period (columns *_all).
suppressPackageStartupMessages(library(surveillance))
inputs <- read.csv("series.csv")

# "improved": Noufaily et al. (2013) settings as given in surveillance's documentation
# (?farringtonFlexible, vignette("monitoringCounts") con.noufaily) with b = 5 years.
improved <- list(b = 5, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26,
                 weightsThreshold = 2.58, pThresholdTrend = 1, thresholdMethod = "nbPlugin",
                 alpha = 0.05, limit54 = c(5, 4), reweight = TRUE, trend = TRUE,
                 populationOffset = FALSE, fitFun = "algo.farrington.fitGLM.flexible")
configs <- list(
  improved = list(control = improved,
                  series = c("seasonal", "trending", "sparse", "outbreak")),
  improved_b3 = list(control = modifyList(improved, list(b = 3)),
                     series = c("trending", "outbreak", "sparse")),
  improved_alpha005 = list(control = modifyList(improved, list(alpha = 0.005)),
                           series = c("outbreak")),
  muan = list(control = modifyList(improved, list(thresholdMethod = "muan")),
              series = c("outbreak", "trending")),
  # Farrington et al. (1996)-like: windows only, significance-tested trend, delta threshold.
  original = list(control = modifyList(improved, list(noPeriods = 1, weightsThreshold = 1,
                                                      pastWeeksNotIncluded = 3,
                                                      pThresholdTrend = 0.05,
                                                      thresholdMethod = "delta",
                                                      powertrans = "2/3")),
                  series = c("seasonal", "trending", "outbreak"))
)

rows <- list()
for (name in names(configs)) {
  cfg <- configs[[name]]
  for (id in cfg$series) {
    y <- inputs$count[inputs$series_id == id]
    stsObj <- sts(observed = matrix(y, ncol = 1), frequency = 52, start = c(2017, 1))
    ctrl <- cfg$control
    res <- suppressWarnings(farringtonFlexible(stsObj, control = ctrl))
    all <- suppressWarnings(farringtonFlexible(stsObj,
                                               control = modifyList(ctrl, list(limit54 = c(0, 4)))))
    range <- (52 * ctrl$b + ctrl$w + 1):length(y)
    rows[[length(rows) + 1]] <- data.frame(
      config = name, series_id = id, t = range, count = y[range],
      expected = as.vector(res@control$expected), upper = as.vector(upperbound(res)),
      alarm = as.integer(as.vector(alarms(res))),
      expected_all = as.vector(all@control$expected), upper_all = as.vector(upperbound(all)),
      alarm_all = as.integer(as.vector(alarms(all))),
      phi = as.vector(all@control$phiVector), trend = as.vector(all@control$trend),
      score = as.vector(all@control$score), pvalue = as.vector(all@control$pvalue))
  }
}
out <- do.call(rbind, rows)
write.csv(out, "farrington_golden.csv", row.names = FALSE, quote = FALSE, na = "")
cat("surveillance", as.character(packageVersion("surveillance")), "rows", nrow(out), "\n")
