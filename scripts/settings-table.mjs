// Prints the README's table of settings from the settings table (build first: npx tsc -p .).
import { settingsMarkdown } from '../dist/src/config/settings-doc.js';

process.stdout.write(`${settingsMarkdown()}\n`);
