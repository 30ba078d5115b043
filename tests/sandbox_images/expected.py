"""The tools each sandbox image must offer, by name (the seed's and MCP servers' names)."""

BASE_TOOLS = frozenset({"run_ipython_cell", "run_shell_command"})
FILESYSTEM_TOOLS = frozenset(
    {
        "read_file",
        "read_multiple_files",
        "write_file",
        "edit_file",
        "create_directory",
        "list_directory",
        "directory_tree",
        "move_file",
        "search_files",
        "get_file_info",
        "list_allowed_directories",
    }
)
# Playwright MCP's tools, as AgentScope Runtime's browser sandbox offers them
BROWSER_TOOLS = frozenset(
    {
        "browser_navigate",
        "browser_navigate_back",
        "browser_navigate_forward",
        "browser_snapshot",
        "browser_click",
        "browser_type",
        "browser_hover",
        "browser_drag",
        "browser_select_option",
        "browser_press_key",
        "browser_wait_for",
        "browser_take_screenshot",
        "browser_pdf_save",
        "browser_file_upload",
        "browser_handle_dialog",
        "browser_resize",
        "browser_console_messages",
        "browser_network_requests",
        "browser_tab_list",
        "browser_tab_new",
        "browser_tab_select",
        "browser_tab_close",
        "browser_close",
    }
)
GUI_TOOLS = frozenset({"computer_use"})
EXPECTED_TOOLS = {
    "base": BASE_TOOLS,
    "filesystem": BASE_TOOLS | FILESYSTEM_TOOLS,
    "browser": BASE_TOOLS | BROWSER_TOOLS,
    "gui": BASE_TOOLS | GUI_TOOLS,
}
TOOLSETS = {
    "base": "base",
    "filesystem": "base,filesystem",
    "browser": "base,browser",
    "gui": "base,gui",
}
