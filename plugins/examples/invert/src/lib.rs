//! Example plugin for the plugin guide: inverts colours inside the mask
