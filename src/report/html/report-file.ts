/** The HTML report's file name: at a bundle's root (plugins) and in the CLI's --report-dir. */
export const HTML_REPORT_FILE = 'quantize-report.html'
