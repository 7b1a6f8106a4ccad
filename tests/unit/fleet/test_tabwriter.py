"""Go text/tabwriter bytes as fleetctl prints them (docs/fleet.md §4.5)."""

from labs.node.fleet.tabwriter import format_table


def test_list_units_example_bytes():
    text = "UNIT\tMACHINE\tACTIVE\tSUB\nhello.service\t113f16a7.../172.17.8.103\tactive\trunning\n"
    assert format_table(text) == ("UNIT\t\tMACHINE\t\t\t\tACTIVE\tSUB\n"
                                  "hello.service\t113f16a7.../172.17.8.103\tactive\trunning\n")


def test_list_unit_files_example_bytes():
    text = ("UNIT\tHASH\tDSTATE\tSTATE\tTARGET\n"
            "hello.service\te55c0ae\tlaunched\tlaunched\t113f16a7.../172.17.8.103\n"
            "global.service\t0123abc\tlaunched\t-\tglobal\n")
    assert format_table(text) == ("UNIT\t\tHASH\tDSTATE\t\tSTATE\t\tTARGET\n"
                                  "hello.service\te55c0ae\tlaunched\tlaunched\t113f16a7.../172.17.8.103\n"
                                  "global.service\t0123abc\tlaunched\t-\t\tglobal\n")


def test_list_machines_example_bytes():
    text = "MACHINE\tIP\tMETADATA\n113f16a7...\t172.17.8.103\taz=us-west-1b\ne793afb9...\t172.17.8.101\t-\n"
    assert format_table(text) == ("MACHINE\t\tIP\t\tMETADATA\n"
                                  "113f16a7...\t172.17.8.103\taz=us-west-1b\n"
                                  "e793afb9...\t172.17.8.101\t-\n")


def test_cell_exactly_on_a_tab_stop_gets_a_full_extra_tab():
    # width = len + padding 1 = 9 → rounded to 16: "12345678" needs 1 tab, "a" needs 2.
    assert format_table("12345678\tx\na\ty\n") == "12345678\tx\na\t\ty\n"


def test_a_line_without_tabs_ends_the_column_block():
    text = "long-cell-here\tb\nno tabs\nx\ty\n"
    assert format_table(text) == "long-cell-here\tb\nno tabs\nx\ty\n"


def test_empty_input():
    assert format_table("") == ""
