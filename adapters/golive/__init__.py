"""Going live with an ERP: mapping check and workbook, dry runs, and the sandbox report."""
