#!/usr/bin/env node
import '../dist/bundles/cli/liveupdate.js';
